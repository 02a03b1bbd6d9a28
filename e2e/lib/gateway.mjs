// Shared helpers of the end-to-end suite: where the gateway and NATS are (set by e2e/run),
// publishing demo events, reading the gateway's gauges, and waiting for conditions.
import assert from 'node:assert/strict';
import { connect } from 'nats';

function required(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run the suite with e2e/run, which starts the gateway`);
  }
  return v;
}

/** The gateway's GraphQL endpoint, e.g. http://127.0.0.1:PORT/graphql. */
export const httpURL = required('EDGATE_URL');
/** The same endpoint as a WebSocket URL. */
export const wsURL = httpURL.replace(/^http/, 'ws');
/** The NATS server the gateway consumes from. */
export const natsURL = required('EDGATE_NATS_URL');

/** The demo employees subgraph behind the gateway. */
export const subgraphURL = required('EDGATE_SUBGRAPH_URL');

/** forwardedAuthorizations lists the Authorization headers the subgraph has been sent. */
export async function forwardedAuthorizations() {
  const res = await fetch(new URL('/e2e/authorizations', subgraphURL));
  assert.equal(res.status, 200, 'GET /e2e/authorizations on the subgraph');
  return res.json();
}

/** newToken returns a bearer token no other test uses. */
export function newToken(name) {
  return `Bearer e2e-${name}-${process.pid}-${Math.random().toString(36).slice(2)}`;
}

/** The subscription every client runs: the event carries the key, the gateway resolves name. */
export const employeeUpdated = 'subscription { employeeUpdated(id: 1) { id name } }';
/** What every subscriber must see for a well-formed event of employee 1. */
export const aliceUpdated = { data: { employeeUpdated: { id: 1, name: 'Alice Johnson' } } };
/** The error a validating GraphQL server gives for the unknown field of unknownField. */
export const unknownField = 'subscription { employeeUpdated(id: 1) { id nope } }';
export const unknownFieldMessage = 'Cannot query field "nope" on type "Employee".';
/** A document that does not parse. */
export const invalidSyntax = 'subscription { employeeUpdated(id: 1) { id name ';

/** sleep resolves after ms milliseconds. */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * until polls cond every 20 ms and resolves once it returns true; it rejects with what
 * after timeoutMs.
 */
export async function until(cond, what, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(20);
  }
}

/**
 * Publisher sends events to NATS the way a service would, without the gateway.
 */
export class Publisher {
  static async connect(servers = natsURL) {
    const p = new Publisher();
    p.nc = await connect({ servers, name: 'edgate-e2e' });
    return p;
  }

  /** publish sends one message with data (an object is sent as JSON, a string as is). */
  async publish(subject, data) {
    this.nc.publish(subject, typeof data === 'string' ? data : JSON.stringify(data));
    await this.nc.flush();
  }

  /** employeeUpdated publishes a well-formed event of the employee with this id. */
  employeeUpdated(id) {
    return this.publish(`employeeUpdated.${id}`, { __typename: 'Employee', id });
  }

  /**
   * publishUntil publishes data on subject every 100 ms until received() is true. A core
   * NATS publish reaches only consumers that exist already, and a client cannot see when
   * the gateway's broker consumer has started, so the first event is repeated until one
   * arrives.
   */
  async publishUntil(subject, data, received, what, timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.publish(subject, data);
      const next = Date.now() + 100;
      while (Date.now() < next) {
        if (received()) return;
        await sleep(10);
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      }
    }
  }

  /** close disconnects; it may be called more than once. */
  async close() {
    if (this.nc && !this.nc.isClosed()) await this.nc.close();
  }
}

/** metrics reads the gateway's Prometheus metrics without labels into a Map. */
export async function metrics() {
  const res = await fetch(new URL('/metrics', httpURL));
  assert.equal(res.status, 200, 'GET /metrics');
  const out = new Map();
  for (const line of (await res.text()).split('\n')) {
    const m = /^(edgate_[a-z_]+) (\S+)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

/**
 * idle resolves once the gateway has no open client subscription and no broker consumer:
 * every subscription a test ended was really ended on the server too.
 */
export async function idle(timeoutMs = 5000) {
  let last;
  try {
    await until(async () => {
      last = await metrics();
      return last.get('edgate_subscriptions') === 0 && last.get('edgate_triggers') === 0;
    }, 'the gateway to have no subscriptions and no broker consumers', timeoutMs);
  } catch (err) {
    err.message += ` (edgate_subscriptions=${last?.get('edgate_subscriptions')}, edgate_triggers=${last?.get('edgate_triggers')})`;
    throw err;
  }
}

/** subscribed resolves once the gateway counts n open client subscriptions. */
export async function subscribed(n, timeoutMs = 5000) {
  await until(async () => (await metrics()).get('edgate_subscriptions') === n, `${n} open subscription(s) on the gateway`, timeoutMs);
}
