// graphql-http's audit of GraphQL over HTTP compliance (queries and mutations over POST
// and GET) against the gateway's endpoint. Every MUST audit must pass; SHOULD and MAY
// audits that do not are listed as diagnostics.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { auditServer } from 'graphql-http';
import { httpURL } from './lib/gateway.mjs';

describe('graphql-http audit (GraphQL over HTTP)', () => {
  test('passes every MUST audit', async (t) => {
    const results = await auditServer({ url: httpURL });
    assert.ok(results.length > 0, 'the audit ran');
    const failed = [];
    for (const r of results) {
      if (r.status === 'ok') continue;
      const reason = r.reason ?? '';
      t.diagnostic(`${r.status}: ${r.id} ${r.name}: ${reason}`);
      if (r.name.startsWith('MUST')) failed.push(`${r.id} ${r.name}: ${reason}`);
    }
    t.diagnostic(`${results.filter((r) => r.status === 'ok').length} of ${results.length} audits passed`);
    assert.deepEqual(failed, [], 'MUST audits that failed');
  });
});
