#!/usr/bin/env node
// A small static server for the browser build (web-audio/dist) on 127.0.0.1, with the
// COOP/COEP headers that make the page cross-origin isolated (SharedArrayBuffer).
//
//   node web-audio/scripts/serve.mjs [--port 8080] [--dir web-audio/dist] [--no-isolation]
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.json': 'application/json',
  '.css': 'text/css',
  '.ts': 'text/plain; charset=utf-8',
};

export const DIST = resolve(fileURLToPath(new URL('../dist', import.meta.url)));

/** Serves `dir` on 127.0.0.1:`port` (0: any free port), and `files` (URL path -> file path)
 * beside it; resolves with { server, url }. */
export function serve({ dir = DIST, port = 0, isolation = true, files = {} } = {}) {
  const root = resolve(dir);
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://localhost').pathname);
    let file = files[path] ?? normalize(join(root, path));
    if (!files[path] && file !== root && !file.startsWith(root + sep)) {
      res.writeHead(403).end();
      return;
    }
    try {
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      const body = await readFile(file);
      const headers = {
        'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
        'Cache-Control': 'no-store',
      };
      if (isolation) {
        headers['Cross-Origin-Opener-Policy'] = 'same-origin';
        headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
        headers['Cross-Origin-Resource-Policy'] = 'same-origin';
      }
      res.writeHead(200, headers).end(body);
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    }
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => {
      ok({ server, url: `http://127.0.0.1:${server.address().port}` });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const get = (name, fallback) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : fallback;
  };
  const dir = get('--dir', DIST);
  try {
    await stat(join(dir, 'hark_web_audio_bg.wasm'));
  } catch {
    console.error(`serve.mjs: ${dir} has no build; run: bash web-audio/scripts/build.sh`);
    process.exit(1);
  }
  const { url } = await serve({ dir, port: Number(get('--port', 8080)), isolation: !args.includes('--no-isolation') });
  console.log(`Hark demo: ${url}/  (Ctrl-C stops)`);
}
