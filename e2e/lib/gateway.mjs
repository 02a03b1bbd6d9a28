// Shared helpers of the end-to-end suite: where the gateway and NATS are (set by e2e/run),
// publishing demo events, reading the gateway's gauges, and waiting for conditions.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
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

  /**
   * watch records every message on subject (wildcards allowed) in the returned array, as
   * {subject, data}; it is subscribed once watch resolves.
   */
  async watch(subject) {
    const seen = [];
    const sub = this.nc.subscribe(subject, {
      callback: (err, m) => { if (!err) seen.push({ subject: m.subject, data: m.string() }); },
    });
    await this.nc.flush();
    seen.stop = () => sub.unsubscribe();
    return seen;
  }

  /** close disconnects; it may be called more than once. */
  async close() {
    if (this.nc && !this.nc.isClosed()) await this.nc.close();
  }
}

/**
 * metrics reads the gateway's Prometheus metrics into a Map: names without labels as they
 * are, labelled ones as name{labels} (edgate_broker_published_total{provider="nats/default"}).
 */
export async function metrics() {
  const res = await fetch(new URL('/metrics', httpURL));
  assert.equal(res.status, 200, 'GET /metrics');
  const out = new Map();
  for (const line of (await res.text()).split('\n')) {
    const m = /^(edgate_[a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

/** published is the number of messages the gateway has published to its NATS provider. */
export async function published() {
  return (await metrics()).get('edgate_broker_published_total{provider="nats/default"}');
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

/**
 * spawnGateway runs the gateway binary (EDGATE_BIN) with args and resolves once it logs
 * that it is ready, with {proc, url, exited, log}. The caller stops it (proc.kill).
 */
export async function spawnGateway(args) {
  const bin = process.env.EDGATE_BIN;
  assert.ok(bin, 'EDGATE_BIN is set by e2e/run');
  const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const log = [];
  const url = await new Promise((resolve, reject) => {
    createInterface({ input: proc.stderr }).on('line', (line) => {
      log.push(line);
      let entry;
      try { entry = JSON.parse(line); } catch { return; }
      if (entry.message === 'edgate is ready') resolve(entry.url);
    });
    exited.then(({ code }) => reject(new Error(`the gateway exited with ${code}:\n${log.join('\n')}`)));
  });
  return { proc, url, exited, log };
}

/** runGateway runs the gateway binary (EDGATE_BIN) to completion and returns its output. */
export function runGateway(args) {
  return new Promise((resolve, reject) => {
    execFile(process.env.EDGATE_BIN, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${process.env.EDGATE_BIN} ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}
