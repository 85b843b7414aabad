'use strict';
// Kindling's JavaScript agent: loads one function and serves its invocations (docs/protocol.md).
// The engine starts it as `node -e <this source>` with requests on fd 4 and replies on fd 3;
// fds 1 and 2 carry the function's logs and fd 0 is /dev/null.

const fs = require('fs');
const net = require('net');
const path = require('path');
const util = require('util');
const vm = require('vm');
const Module = require('module');

const REQUESTS = 4;
const REPLIES = 3;
const FILENAME = '/var/task/function.js';
const DIRNAME = path.dirname(FILENAME);
const MODULE_PATHS = Module._nodeModulePaths(DIRNAME);
const CJS_PARAMETERS = ['exports', 'require', 'module', '__filename', '__dirname'];
const SCRIPT_PARAMETERS = [...CJS_PARAMETERS, 'event', 'context'];
const MAX_RESULT = 6 * 1024 * 1024;
const MAX_FRAME = 8 * 1024 * 1024;
const IDENTIFIER = /^[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*$/u;
const TOP_LEVEL_HANDLER_KEY = 'kindling.handler'; // where loadModule's probe puts the handler
// Keywords after which `/` starts a regular expression rather than a division.
const REGEX_AFTER = new Set(['return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void',
  'throw', 'case', 'do', 'else', 'yield', 'await']);
const PAUSE = new Int32Array(new SharedArrayBuffer(4));
// The real one: scripts get a replacement, and user code may replace it too.
const exitProcess = process.exit.bind(process);

let functionInfo = { name: '', version: '', memoryMb: 0 };
let current = null; // the invocation in flight: { fail(err) }

class Context {
  #deadlineMs;

  constructor(id, deadlineMs) {
    this.awsRequestId = id;
    this.requestId = id;
    this.invocationId = id;
    this.functionName = functionInfo.name;
    this.functionVersion = functionInfo.version;
    this.memoryLimitInMB = functionInfo.memoryMb;
    this.callbackWaitsForEmptyEventLoop = true;
    this.#deadlineMs = deadlineMs ?? 0;
  }

  getRemainingTimeInMillis() {
    return Math.max(0, this.#deadlineMs - Date.now());
  }
}

// Thrown by a script's process.exit(code) to end the script, not the agent.
class ExitRequest {
  constructor(code) {
    this.status = code == null ? 0 : Number(code) | 0;
  }
}

function writeAll(fd, data) {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  for (let off = 0; off < buf.length;) {
    try {
      off += fs.writeSync(fd, buf, off, buf.length - off);
    } catch (err) {
      if (err.code !== 'EAGAIN') throw err;
      Atomics.wait(PAUSE, 0, 0, 1);
    }
  }
}

// JSON.stringify escapes a lone surrogate as \udXXX, which is not valid UTF-16 and which strict JSON
// readers (the engine's) refuse: such escapes become U+FFFD. Escapes are matched left to right, so
// an escaped backslash followed by "ud800" is left alone.
const ESCAPES = /\\ud[89ab][0-9a-f]{2}\\ud[c-f][0-9a-f]{2}|\\u(d[89a-f][0-9a-f]{2})|\\./gi;

function send(frame) {
  const wellFormed = frame.includes('\\ud') ? frame.replace(ESCAPES, (escape, lone) => (lone ? '\\ufffd' : escape)) : frame;
  writeAll(REPLIES, wellFormed);
}

// Marks the end of an invocation's output on stderr (docs/protocol.md); set at load.
let logEnd = '';

// Sends an invocation's result, after the marker that ends its output.
function answer(frame) {
  if (logEnd) {
    try {
      writeAll(2, logEnd);
    } catch {
      // The function closed its stderr: the engine stops waiting for the marker on its own.
    }
  }
  send(frame);
}

function fatal(message) {
  writeAll(2, `kindling agent: ${message}\n`);
  exitProcess(70);
}

function safeString(value) {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function namedError(name, message) {
  const err = new Error(message);
  err.name = name;
  return err;
}

// err.stack as a list of lines: the frames after the "Name: message" header, up to the agent's own
// frames ([eval]), preceded by what Node puts before the header of a SyntaxError (file:line, the
// source line and a caret).
function stackLines(err) {
  const stack = err.stack;
  if (typeof stack !== 'string') return [];
  const lines = stack.split('\n');
  const name = safeString(err.name);
  const header = lines.findIndex((line) => line === name || line.startsWith(`${name}:`));
  const trace = header > 0 ? lines.slice(0, header).map((line) => line.trimEnd()).filter(Boolean) : [];
  for (let i = lines.findIndex((line) => /^\s+at /.test(line)); i >= 0 && i < lines.length; i++) {
    if (lines[i].includes('[eval]')) break;
    trace.push(lines[i].trim());
  }
  return trace;
}

function describe(err) {
  if (err instanceof ExitRequest) {
    return { errorType: 'Runtime.ExitError', errorMessage: `exit status ${err.status}`, stackTrace: [] };
  }
  if (util.types.isNativeError(err) || err instanceof Error) {
    return { errorType: safeString(err.name), errorMessage: safeString(err.message), stackTrace: stackLines(err) };
  }
  return { errorType: 'Error', errorMessage: safeString(err), stackTrace: [] };
}

function errorFrame(id, error) {
  return `${JSON.stringify({ type: 'result', id, ok: false, error })}\n`;
}

function tooLarge(what, size) {
  return {
    errorType: 'Runtime.ResultTooLarge',
    errorMessage: `${what} is ${size} bytes, more than the ${MAX_RESULT}-byte limit`,
    stackTrace: [],
  };
}

function resultFrame(id, value) {
  let json;
  try {
    json = JSON.stringify(value);
  } catch (err) { // BigInt, circular structure, a throwing toJSON
    return errorFrame(id, {
      errorType: 'Runtime.SerializationError',
      errorMessage: `result is not JSON-serialisable: ${safeString(err && err.message)}`,
      stackTrace: [],
    });
  }
  if (json === undefined) json = 'null';
  // A UTF-16 code unit is at most 3 UTF-8 bytes: only long strings need counting.
  if (json.length > MAX_RESULT / 3) {
    const size = Buffer.byteLength(json);
    if (size > MAX_RESULT) return errorFrame(id, tooLarge('the result', size));
  }
  return `{"type":"result","id":${JSON.stringify(id)},"ok":true,"value":${json}}\n`;
}

function stdoutFrame(id, output) {
  if (output.length > MAX_RESULT) return errorFrame(id, tooLarge("the script's output", output.length));
  const frame = `{"type":"result","id":${JSON.stringify(id)},"ok":true,"stdout":${JSON.stringify(output.toString('utf8'))}}\n`;
  const size = Buffer.byteLength(frame);
  if (size > MAX_FRAME) return errorFrame(id, tooLarge("the script's JSON-escaped output", size));
  return frame;
}

function handlerServer(handler) {
  // Lambda's convention: a plain function declaring (event, context, callback) answers through callback.
  const withCallback = handler.length >= 3 && !util.types.isAsyncFunction(handler);
  return (req) => {
    const id = req.id;
    let done = false;
    const finish = (frame) => {
      if (done) return;
      done = true;
      current = null;
      answer(frame);
    };
    const succeed = (value) => finish(resultFrame(id, value));
    const fail = (err) => finish(errorFrame(id, describe(err)));
    current = { fail };
    const context = new Context(id, req.deadline_ms);
    let result;
    try {
      if (withCallback) {
        handler(req.event, context, (err, value) => (err != null ? fail(err) : succeed(value)));
        return;
      }
      result = handler(req.event, context);
    } catch (err) {
      fail(err);
      return;
    }
    if (result !== null && (typeof result === 'object' || typeof result === 'function') &&
        typeof result.then === 'function') {
      result.then(succeed, fail);
    } else {
      succeed(result);
    }
  };
}

// A stream.write replacement that hands each chunk, as a Buffer, to `take`.
function writeWith(take) {
  return function write(chunk, encoding, callback) {
    if (typeof encoding === 'function') {
      callback = encoding;
      encoding = undefined;
    }
    take(typeof chunk === 'string' ? Buffer.from(chunk, encoding) : Buffer.from(chunk));
    if (typeof callback === 'function') process.nextTick(callback);
    return true;
  };
}

function captureInto(chunks) {
  return writeWith((buf) => chunks.push(buf));
}

// Node queues writes to a full pipe in memory and sends them later, which would let output arrive
// after the reply frame (in the next invocation's logs) and let a print flood grow the process.
// Writing synchronously keeps output in order with the replies and bounded by the pipe.
function writeOutputSynchronously() {
  process.stdout.write = writeWith((buf) => writeAll(1, buf));
  process.stderr.write = writeWith((buf) => writeAll(2, buf));
}

function scriptServer(script) {
  const scriptRequire = Module.createRequire(FILENAME);
  return (req) => {
    const id = req.id;
    const stdout = process.stdout;
    const { write } = stdout;
    const { exit } = process;
    const chunks = [];
    let done = false;
    const finish = (error) => {
      if (done) return;
      done = true;
      current = null;
      stdout.write = write;
      process.exit = exit;
      const output = Buffer.concat(chunks);
      if (error) {
        writeAll(2, output); // what it printed before failing belongs in its logs
        answer(errorFrame(id, error));
      } else {
        answer(stdoutFrame(id, output));
      }
    };
    const fail = (err) => finish(err instanceof ExitRequest && err.status === 0 ? null : describe(err));
    current = { fail };
    stdout.write = captureInto(chunks);
    process.exit = (code) => {
      throw new ExitRequest(code);
    };
    process.argv = [process.execPath, functionInfo.name, ...(req.args || []).map(String)];
    const mod = new Module(FILENAME, null);
    mod.filename = FILENAME;
    mod.paths = MODULE_PATHS;
    scriptRequire.main = mod; // a script is its own main module
    try {
      const body = script.runInThisContext();
      body.call(mod.exports, mod.exports, scriptRequire, mod, FILENAME, DIRNAME, req.event,
        new Context(id, req.deadline_ms));
    } catch (err) {
      fail(err);
      return;
    }
    // Let promise callbacks the script queued run (one turn) before its stdout is collected.
    setImmediate(finish, null);
  };
}

function compileScript(code) {
  const body = code.replace(/^#!.*/, ''); // a #! line is not JavaScript inside a function
  // The wrapper's first line is line 0, so positions are those of the source.
  const source = `(function (${SCRIPT_PARAMETERS.join(', ')}) {\n${body}\n})`;
  try {
    return new vm.Script(source, { filename: FILENAME, lineOffset: -1 });
  } catch (err) {
    // Report a syntax error at its place in the source as written, not against the wrapper.
    if (err instanceof SyntaxError) vm.compileFunction(body, SCRIPT_PARAMETERS, { filename: FILENAME });
    throw err;
  }
}

function loadModule(code, name) {
  const mod = new Module(FILENAME, null);
  mod.filename = FILENAME;
  mod.paths = MODULE_PATHS;
  // Lets the agent find a top-level `function handler` that the module does not export.
  const probe = `\nmodule[Symbol.for('${TOP_LEVEL_HANDLER_KEY}')] = typeof ${name} === 'function' ? ${name} : undefined;\n`;
  try {
    mod._compile(code + probe, FILENAME);
  } catch (err) {
    // Report a syntax error at its place in the source as written, without the probe.
    if (err instanceof SyntaxError) vm.compileFunction(code, CJS_PARAMETERS, { filename: FILENAME });
    throw err;
  }
  mod.loaded = true;
  const exported = mod.exports;
  const handler = typeof exported === 'function' ? exported
    : exported != null && typeof exported[name] === 'function' ? exported[name]
      : mod[Symbol.for(TOP_LEVEL_HANDLER_KEY)];
  if (typeof handler !== 'function') {
    throw namedError('Runtime.HandlerNotFound', `${FILENAME} neither exports nor defines a function ${name}`);
  }
  return handler;
}

function isIdentChar(c) {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 36 || c === 95 || c > 127;
}

function regexAllowed(src, prev) {
  if (prev < 0) return true;
  const c = src[prev];
  if (c === ')' || c === ']' || c === '"' || c === "'" || c === '`') return false;
  if (!isIdentChar(src.charCodeAt(prev))) return true;
  let start = prev;
  while (start > 0 && isIdentChar(src.charCodeAt(start - 1))) start--;
  return REGEX_AFTER.has(src.slice(start, prev + 1));
}

function stringEnd(src, i) {
  const quote = src[i];
  for (let j = i + 1; j < src.length; j++) {
    const c = src[j];
    if (c === '\\') j++;
    else if (c === quote) return j + 1;
    else if (c === '\n') return j; // unterminated: the compiler reports it
  }
  return src.length;
}

function regexEnd(src, i) {
  let inClass = false;
  for (let j = i + 1; j < src.length; j++) {
    const c = src[j];
    if (c === '\\') j++;
    else if (c === '\n') return j;
    else if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    else if (c === '/' && !inClass) {
      j++;
      while (j < src.length && isIdentChar(src.charCodeAt(j))) j++;
      return j;
    }
  }
  return src.length;
}

// From just after a template's opening backtick (or a substitution's closing brace) to just after
// its closing backtick or its next `${`.
function templateEnd(src, i) {
  for (let j = i; j < src.length; j++) {
    const c = src[j];
    if (c === '\\') j++;
    else if (c === '`') return [j + 1, false];
    else if (c === '$' && src[j + 1] === '{') return [j + 2, true];
  }
  return [src.length, false];
}

// The source with comments blanked and string, template and regular-expression literals replaced
// by a 0, so the mode checks only see code; `${…}` substitutions stay, as code.
function codeOnly(src) {
  const out = [];
  const substitutions = []; // for each open `${`, the brace depth at which it closes
  let from = 0;
  let depth = 0;
  let prev = -1; // index of the last significant character
  const replace = (start, end, text) => {
    out.push(src.slice(from, start), text);
    from = end;
  };
  for (let i = 0; i < src.length;) {
    const c = src[i];
    let end;
    if (c === '/' && (src[i + 1] === '/' || src[i + 1] === '*')) {
      const line = src[i + 1] === '/';
      end = src.indexOf(line ? '\n' : '*/', i + 2);
      end = end < 0 ? src.length : line ? end : end + 2;
      replace(i, end, ' ');
    } else if (c === '"' || c === "'" || (c === '/' && regexAllowed(src, prev))) {
      end = c === '/' ? regexEnd(src, i) : stringEnd(src, i);
      replace(i, end, ' 0 ');
      prev = end - 1;
    } else if (c === '`' || (c === '}' && substitutions.length && substitutions[substitutions.length - 1] === depth)) {
      if (c === '}') substitutions.pop();
      let open;
      [end, open] = templateEnd(src, i + 1);
      if (open) substitutions.push(depth);
      replace(i, end, ' 0 ');
      prev = end - 1;
    } else {
      if (c === '{') depth++;
      else if (c === '}') depth--;
      if (c !== ' ' && c !== '\n' && c !== '\t' && c !== '\r') prev = i;
      i++;
      continue;
    }
    i = end;
  }
  out.push(src.slice(from));
  return out.join('');
}

function braceDepthAt(code, index) {
  let depth = 0;
  for (let j = 0; j < index; j++) {
    if (code[j] === '{') depth++;
    else if (code[j] === '}') depth--;
  }
  return depth;
}

function closingIndex(code, open) {
  const opener = code[open];
  const closer = opener === '(' ? ')' : '}';
  let depth = 0;
  for (let j = open; j < code.length; j++) {
    if (code[j] === opener) depth++;
    else if (code[j] === closer && --depth === 0) return j;
  }
  return code.length;
}

// Where a definition whose head ends at afterHead ends: a function declaration at its body's
// closing brace, a `const|let|var` at the end of its statement.
function definitionEnd(code, afterHead) {
  if (code[afterHead - 1] === '(') {
    const body = code.indexOf('{', closingIndex(code, afterHead - 1));
    return body < 0 ? code.length : closingIndex(code, body) + 1;
  }
  let j = afterHead;
  while (j < code.length && /\s/.test(code[j])) j++;
  for (let depth = 0; j < code.length; j++) {
    const c = code[j];
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      if (--depth === 0 && c === '}') return j + 1;
    } else if (depth === 0 && (c === ';' || c === '\n')) return j;
  }
  return code.length;
}

// Handler mode when the module exports the handler, or defines it at top level without calling it.
function isHandlerModule(src, name) {
  const code = codeOnly(src);
  const id = name.replace(/\$/g, '\\$');
  const word = (pattern, flags) => new RegExp(`(?<![\\w$.])${pattern}`, flags);
  if (word('module\\s*\\.\\s*exports\\s*=(?!=)').test(code) ||
      word(`(?:module\\s*\\.\\s*)?exports\\s*\\.\\s*${id}\\s*=(?!=)`).test(code)) {
    return true;
  }
  const definitions = [];
  const definition = word(`(?:function\\s*\\*?\\s*${id}\\s*\\(|(?:const|let|var)\\s+${id}\\s*=(?!=))`, 'g');
  for (const m of code.matchAll(definition)) {
    if (braceDepthAt(code, m.index) === 0) {
      definitions.push([m.index, definitionEnd(code, m.index + m[0].length)]);
    }
  }
  if (definitions.length === 0) return false;
  for (const m of code.matchAll(word(`${id}\\s*\\(`, 'g'))) {
    if (!definitions.some(([start, end]) => m.index >= start && m.index < end)) return false;
  }
  return true;
}

function load(req) {
  let reply;
  let server = null;
  try {
    for (const [key, value] of Object.entries(req.env || {})) process.env[key] = String(value);
    const info = req.function || {};
    functionInfo = {
      name: String(info.name ?? ''),
      version: String(info.version ?? ''),
      memoryMb: Number(info.memory_mb ?? 0),
    };
    logEnd = String(req.log_end ?? '');
    const name = req.handler || 'handler';
    if (!IDENTIFIER.test(name)) throw namedError('Runtime.HandlerNotFound', `invalid handler name ${JSON.stringify(name)}`);
    const code = String(req.code);
    if (isHandlerModule(code, name)) {
      server = handlerServer(loadModule(code, name));
      reply = { type: 'loaded', mode: 'handler' };
    } else {
      server = scriptServer(compileScript(code));
      reply = { type: 'loaded', mode: 'script' };
    }
  } catch (err) {
    reply = { type: 'load_failed', error: describe(err) };
  }
  send(`${JSON.stringify(reply)}\n`);
  return server;
}

// Calls onLine with each newline-terminated frame read from fd, as a Buffer valid during the call.
function readLines(fd, onLine) {
  let pending = []; // copies of the chunks of a frame not yet terminated
  const onChunk = (chunk) => {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      let line = chunk.subarray(start, nl);
      if (pending.length) {
        pending.push(line);
        line = Buffer.concat(pending);
        pending = [];
      }
      onLine(line);
      start = nl + 1;
    }
    if (start < chunk.length) pending.push(Buffer.from(chunk.subarray(start)));
  };
  const stat = fs.fstatSync(fd);
  // A pipe is read into one reused buffer rather than a new one per read (less GC on the hot path).
  const input = stat.isFIFO() || stat.isSocket()
    ? new net.Socket({
      fd,
      readable: true,
      writable: false,
      onread: { buffer: Buffer.allocUnsafe(1 << 16), callback: (n, buf) => onChunk(buf.subarray(0, n)) },
    })
    : fs.createReadStream(null, { fd }).on('data', onChunk);
  input.on('end', () => exitProcess(0));
  input.on('error', (err) => fatal(`reading requests: ${err.message}`));
}

// Runs the loading machinery once on throwaway code while the instance is still generic, so that
// V8 and the module loader have compiled their own paths before a function's code arrives: the
// first load pays for that otherwise, on the invocation that waits for it.
function warmUp() {
  const code = 'exports.handler = async (event) => event;';
  isHandlerModule(code, 'handler');
  loadModule(code, 'handler');
  compileScript('console.log(1);');
  resultFrame('warm-up', { ok: [1, 'two'] });
}

function main() {
  warmUp();
  let serve = null;
  const onFrame = (line) => {
    let req;
    try {
      req = JSON.parse(line.toString('utf8'));
    } catch (err) {
      fatal(`unreadable frame: ${err.message}`);
    }
    const type = req !== null && typeof req === 'object' ? req.type : undefined;
    if (type === 'invoke' && serve !== null && current === null) serve(req);
    else if (type === 'load' && serve === null) serve = load(req);
    else fatal(`unexpected ${JSON.stringify(type)} frame${current !== null ? ' during an invocation' : ''}`);
  };
  // Errors that escape the function's code asynchronously fail the invocation in flight, if any.
  const asyncError = (err) => {
    if (current !== null) current.fail(err);
    else writeAll(2, `Uncaught ${util.inspect(err)}\n`);
  };
  process.on('uncaughtException', asyncError);
  process.on('unhandledRejection', asyncError);
  writeOutputSynchronously();
  send(`{"type":"hello","language":"javascript","version":${JSON.stringify(process.versions.node)}}\n`);
  readLines(REQUESTS, onFrame);
}

main();
