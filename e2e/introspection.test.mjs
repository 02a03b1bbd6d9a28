// Introspection as graphql-js sees it: buildClientSchema(introspection) printed with
// printSchema must be the composed client schema, with no federation or composition
// directives and types, and no empty descriptions where none was written.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildClientSchema, buildSchema, getIntrospectionQuery, lexicographicSortSchema, printSchema } from 'graphql';
import { httpURL, natsURL, runGateway, spawnGateway } from './lib/gateway.mjs';

/** introspect runs the full introspection query GraphiQL and code generators send. */
async function introspect(url) {
  const query = getIntrospectionQuery({
    descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true,
  });
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query }),
  });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data;
}

/** printed prints a schema with its types and fields in a canonical order. */
const printed = (schema) => printSchema(lexicographicSortSchema(schema));

describe('introspection', () => {
  const fixtures = new URL('./fixtures/introspection/', import.meta.url);
  let dir;
  let gw;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgate-introspection-'));
    for (const f of ['catalog.graphql', 'events.graphql']) {
      writeFileSync(join(dir, f), readFileSync(new URL(f, fixtures)));
    }
    // The catalog subgraph's URL is never called: introspection is answered by the gateway.
    writeFileSync(join(dir, 'edgate.yaml'), `listen_addr: 127.0.0.1:0
subgraphs:
  - name: catalog
    routing_url: http://127.0.0.1:9/graphql
    schema: { file: catalog.graphql }
  - name: events
    schema: { file: events.graphql }
events:
  providers:
    nats: [ { id: default, url: "${natsURL}" } ]
log: { level: info, format: json }
`);
    gw = await spawnGateway(['-config', join(dir, 'edgate.yaml'), '-watch', '0']);
  });
  after(async () => {
    if (gw && gw.proc.exitCode === null) {
      gw.proc.kill('SIGTERM');
      await gw.exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('buildClientSchema(introspection) prints as the composed client schema', async () => {
    const got = printed(buildClientSchema(await introspect(gw.url)));
    const want = printed(buildSchema(readFileSync(new URL('client-schema.graphql', fixtures), 'utf8')));
    assert.equal(got, want);
    assert.doesNotMatch(got, /""""""/, 'an empty description');
    assert.doesNotMatch(got, /@authenticated|@requiresScopes|openfed__|@key|edfs__nats|join__|link__/);
  });

  test('the suite gateway introspects as edgate -print-schema prints its schema', async () => {
    const sdl = await runGateway(['-print-schema', '-config', process.env.EDGATE_CONFIG]);
    assert.equal(printed(buildClientSchema(await introspect(httpURL))), printed(buildSchema(sdl)));
  });
});
