// Builds the IDE into ../assets, which the Go package embeds (go:embed), so that `go build`
// needs no Node. Run it after changing src/ or package.json, and commit ../assets:
//
//   npm ci && node build.mjs           # write ../assets
//   npm ci && node build.mjs --check   # fail when ../assets is not the build of these sources
//
// Output: content-hashed, minified files, each gzip-compressed (name.gz; the server sends
// it as is to clients that accept gzip), manifest.json naming the entry files for the
// HTML page the server renders, and THIRD-PARTY-LICENSES.txt for the bundled packages.
// The build is deterministic: the same sources and lock file give the same files (--check
// compares them decompressed, since another Node's zlib may compress differently).
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, '..', 'assets');
const check = process.argv.includes('--check');
const out = check ? mkdtempSync(join(tmpdir(), 'edgate-playground-')) : target;

const common = {
  bundle: true,
  minify: true,
  target: ['es2022'],
  define: { 'process.env.NODE_ENV': '"production"' },
  entryNames: '[name]-[hash]',
  chunkNames: 'chunk-[hash]',
  assetNames: '[name]-[hash]',
  legalComments: 'none', // collected into THIRD-PARTY-LICENSES.txt instead
  metafile: true,
  write: false,
  logLevel: 'warning',
  absWorkingDir: here,
};

// Monaco's language services run in classic web workers.
const workers = await esbuild.build({
  ...common,
  entryPoints: {
    'editor.worker': 'monaco-editor/esm/vs/editor/editor.worker.js',
    'json.worker': 'monaco-editor/esm/vs/language/json/json.worker.js',
    'graphql.worker': 'monaco-graphql/esm/graphql.worker.js',
  },
  format: 'iife',
  outdir: 'dist',
});
const workerFiles = {};
for (const [file, meta] of Object.entries(workers.metafile.outputs)) {
  const label = meta.entryPoint && /(editor|json|graphql)\.worker/.exec(meta.entryPoint)?.[1];
  if (label) workerFiles[label] = './' + basename(file);
}

// The page script, an ES module. It is one file (no code splitting): the CSS of lazily
// imported modules (Monaco's) must be in the one stylesheet the page links.
const main = await esbuild.build({
  ...common,
  entryPoints: { main: 'src/main.jsx' },
  format: 'esm',
  jsx: 'automatic',
  loader: { '.ttf': 'file', '.woff': 'file', '.woff2': 'file', '.svg': 'file' },
  define: { ...common.define, __EDGATE_WORKERS__: JSON.stringify(workerFiles) },
  outdir: 'dist',
});

const favicon = readFileSync(join(here, 'src', 'favicon.svg'));
const faviconName = `favicon-${createHash('sha256').update(favicon).digest('hex').slice(0, 8).toUpperCase()}.svg`;

const files = new Map([[faviconName, favicon]]);
for (const f of [...workers.outputFiles, ...main.outputFiles]) files.set(basename(f.path), Buffer.from(f.contents));

const manifest = { favicon: faviconName };
for (const [file, meta] of Object.entries(main.metafile.outputs)) {
  if (meta.entryPoint === 'src/main.jsx') {
    manifest.script = basename(file);
    if (meta.cssBundle) manifest.style = basename(meta.cssBundle);
  }
}
if (!manifest.script || !manifest.style) throw new Error('build: the main script or its CSS is missing');

// Licenses of every package that has code in the bundle.
const packages = new Set();
for (const result of [workers, main]) {
  for (const input of Object.keys(result.metafile.inputs)) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m) packages.add(m[1]);
  }
}
let licenses = 'Third-party software in the edgate GraphQL IDE bundle, with its licenses.\n';
for (const name of [...packages].sort()) {
  const dir = join(here, 'node_modules', name);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\..*)?$/i.test(f));
  licenses += `\n${'='.repeat(78)}\n${name} ${pkg.version} (${pkg.license ?? 'see below'})\n${'='.repeat(78)}\n`;
  licenses += file ? readFileSync(join(dir, file), 'utf8').trim() + '\n' : '(no license file in the package)\n';
}
files.set('THIRD-PARTY-LICENSES.txt', Buffer.from(licenses));

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const [name, bytes] of files) {
  writeFileSync(join(out, name + '.gz'), gzipSync(bytes, { level: 9 }));
}
writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');

let total = 0;
for (const name of readdirSync(out)) total += readFileSync(join(out, name)).length;
console.log(`playground: ${files.size} files, ${(total / 1024).toFixed(0)} KiB compressed`);

if (check) {
  const want = existsSync(target) ? readdirSync(target).sort() : [];
  const got = readdirSync(out).sort();
  // Compared decompressed: another Node's zlib may compress the same bytes differently.
  const content = (dir, f) => (f.endsWith('.gz') ? gunzipSync(readFileSync(join(dir, f))) : readFileSync(join(dir, f)));
  const differ = got.filter((f) => !want.includes(f) || !content(out, f).equals(content(target, f)));
  const stale = want.filter((f) => !got.includes(f));
  rmSync(out, { recursive: true, force: true });
  if (differ.length || stale.length) {
    console.error(`playground: ${target} is not the build of src/ and package-lock.json: run npm ci && node build.mjs, and commit the result`);
    console.error(`  differ or new: ${differ.join(' ') || '-'}\n  not built any more: ${stale.join(' ') || '-'}`);
    process.exit(1);
  }
  console.log('playground: the committed assets are the build of the sources');
}
