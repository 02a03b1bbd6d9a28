// The GraphiQL fetcher: queries and mutations are POSTed to the page's own URL (the
// gateway's GraphQL endpoint); subscriptions stream over Server-Sent Events with the
// graphql-sse client. Both carry the headers of the IDE's header editor as real HTTP
// headers, so the gateway's header forwarding and authorization apply as for any client.
import { getOperationAST, parse } from 'graphql';
import { createClient } from 'graphql-sse';

/** operationKind is "query", "mutation" or "subscription" for the operation to run. */
function operationKind(params, documentAST) {
  try {
    const doc = documentAST ?? parse(params.query);
    return getOperationAST(doc, params.operationName ?? undefined)?.operation ?? 'query';
  } catch {
    return 'query'; // the gateway reports the syntax error
  }
}

/** stringHeaders keeps the entries of the header editor that are strings. */
function stringHeaders(headers) {
  const out = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (v !== undefined && v !== null) out[k] = String(v);
  }
  return out;
}

export function createFetcher(url) {
  return (params, opts) => {
    const headers = stringHeaders(opts?.headers);
    if (operationKind(params, opts?.documentAST) === 'subscription') {
      const client = createClient({ url, headers, retryAttempts: 0, lazy: true, singleConnection: false });
      const events = client.iterate(params);
      // Ending the stream (the IDE's stop button, a new run) closes the connection.
      return {
        [Symbol.asyncIterator]() { return this; },
        next: () => events.next(),
        return: async (value) => {
          try { await events.return?.(value); } finally { client.dispose(); }
          return { done: true, value };
        },
        throw: async (err) => {
          client.dispose();
          throw err;
        },
      };
    }
    return fetch(url, {
      method: 'POST',
      headers: {
        ...headers,
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
      },
      body: JSON.stringify(params),
    }).then(async (res) => {
      const text = await res.text();
      try {
        return JSON.parse(text);
      } catch {
        return { errors: [{ message: `HTTP ${res.status}: ${text}` }] };
      }
    });
  };
}
