// Builds the dashboard into dist/: hashed, minified ES modules and CSS under dist/assets/ and the
// page, dist/index.html, that names them. The kindling binary embeds dist/ (build.rs), so the
// built files are committed; `node build.mjs --check` rebuilds into a temporary directory and
// fails when dist/ differs from what the sources and the lockfile make. The server replaces
// KINDLING_STYLE_NONCE in the page with a fresh nonce per request: the one that lets the editor's
// generated styles through the Content-Security-Policy.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import * as esbuild from 'esbuild';

const here = new URL('.', import.meta.url).pathname;
const check = process.argv.includes('--check');
const dist = join(here, 'dist');
const out = check ? mkdtempSync(join(tmpdir(), 'kindling-dashboard-')) : dist;

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'assets'), { recursive: true });

const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: ['src/main.tsx'],
  outdir: join(out, 'assets'),
  bundle: true,
  // The editor and the charts are loaded by the pages that need them, not by the first page.
  splitting: true,
  format: 'esm',
  minify: true,
  target: ['chrome111', 'firefox115', 'safari16.4'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  entryNames: '[name]-[hash]',
  chunkNames: 'chunk-[hash]',
  assetNames: '[name]-[hash]',
  loader: { '.svg': 'file' },
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.entries(result.metafile.outputs);
const entry = (extension) => {
  const found = outputs.find(([path, meta]) => meta.entryPoint === 'src/main.tsx' && path.endsWith(extension))
    ?? outputs.find(([path]) => /\/main-[^/]+$/.test(path) && path.endsWith(extension));
  if (!found) throw new Error(`the build made no main${extension}`);
  return '/' + relative(out, join(here, found[0]));
};

const icon = readFileSync(join(here, 'src/icon.svg'));
const iconName = `icon-${createHash('sha256').update(icon).digest('hex').slice(0, 8)}.svg`;
writeFileSync(join(out, 'assets', iconName), icon);

writeFileSync(join(out, 'index.html'), `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<meta property="csp-nonce" nonce="KINDLING_STYLE_NONCE">
<title>Kindling</title>
<link rel="icon" href="/assets/${iconName}" type="image/svg+xml">
<link rel="stylesheet" href="${entry('.css')}">
<script type="module" src="${entry('.js')}"></script>
</head>
<body>
<div id="app"></div>
<noscript>The Kindling dashboard needs JavaScript. The API works without it: see /docs.</noscript>
</body>
</html>
`);

// Every file under `root`, as paths relative to it.
const files = (root, dir = root) => readdirSync(dir).flatMap((name) => {
  const path = join(dir, name);
  return statSync(path).isDirectory() ? files(root, path) : [relative(root, path)];
});

if (check) {
  const built = files(out).sort();
  const committed = files(dist).sort();
  const same = built.length === committed.length
    && built.every((path, i) => path === committed[i]
      && readFileSync(join(out, path)).equals(readFileSync(join(dist, path))));
  rmSync(out, { recursive: true, force: true });
  if (!same) {
    console.error('web/dist is not what web/src builds: run `npm run build` in web/ and commit web/dist');
    console.error(`  built:     ${built.join(' ')}\n  committed: ${committed.join(' ')}`);
    process.exit(1);
  }
  console.log('web/dist is current');
} else {
  const total = files(out).reduce((sum, path) => sum + statSync(join(out, path)).size, 0);
  console.log(`built web/dist: ${files(out).length} files, ${(total / 1024).toFixed(0)} KiB`);
}
