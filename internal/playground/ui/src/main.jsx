// edgate's GraphQL IDE: GraphiQL on the gateway's own endpoint, with every asset served
// by the gateway (no CDN) under a Content-Security-Policy that allows only its own origin.
import { GraphiQL } from 'graphiql';
import { createRoot } from 'react-dom/client';
import 'graphiql/style.css';
import './edgate.css';
import { createFetcher } from './fetcher.js';

// Monaco runs its language services in web workers, served beside this script. The build
// defines __EDGATE_WORKERS__ as their (content-hashed) file names.
globalThis.MonacoEnvironment = {
  getWorker(_id, label) {
    const file = __EDGATE_WORKERS__[label] ?? __EDGATE_WORKERS__.editor;
    return new Worker(new URL(file, import.meta.url), { name: label });
  },
};

const DEFAULT_QUERY = `# edgate GraphQL IDE
#
# Write an operation here and run it with Ctrl-Enter (Cmd-Enter on a Mac) or the
# run button. Queries and mutations are POSTed to this endpoint; subscriptions
# stream their events over Server-Sent Events until you stop them. The headers you
# set in the Headers tab below (e.g. {"Authorization": "Bearer ..."}) are sent
# with every request.
#
# The Docs button on the left browses the schema.

`;

// A link such as /graphql?query=...&variables=... opens the IDE on that operation.
const search = new URLSearchParams(location.search);
const url = location.origin + location.pathname;

createRoot(document.getElementById('edgate-playground')).render(
  <GraphiQL
    fetcher={createFetcher(url)}
    defaultQuery={DEFAULT_QUERY}
    initialQuery={search.get('query') ?? undefined}
    initialVariables={search.get('variables') ?? undefined}
    initialHeaders={search.get('headers') ?? undefined}
    isHeadersEditorEnabled
    shouldPersistHeaders={false}
  />,
);
