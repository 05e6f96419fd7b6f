// A smoke test of extension.js outside VS Code: `npm install`, then
// `RNNC=path/to/rnnc node test/smoke.js`. It loads the extension with a stand-in
// `vscode` module (a proxy that answers every API call), so the real
// vscode-languageclient starts `rnnc lsp` and completes the initialize handshake.
const Module = require('module');
const path = require('path');
function universal(name) {
  const fn = function () {};
  return new Proxy(fn, {
    get(target, prop) {
      if (prop === 'then') return undefined;
      if (prop === Symbol.toPrimitive) return () => name;
      if (prop === 'get') return (key, dflt) => (key === 'path' ? process.env.RNNC : dflt);
      if (prop === 'length') return 0;
      if (prop === 'dispose') return () => {};
      if (prop === 'version') return '1.90.0';
      if (prop === 'env') return { language: 'en', appName: 'smoke', machineId: 'x', sessionId: 'y', uiKind: 1 };
      if (prop === 'textDocuments' || prop === 'workspaceFolders' || prop === 'visibleTextEditors' || prop === 'all') return [];
      if (!(prop in target)) target[prop] = universal(name + '.' + String(prop));
      return target[prop];
    },
    apply() { return universal(name + '()'); },
    construct() { return universal('new ' + name); },
  });
}
const vscode = universal('vscode');
const origLoad = Module._load;
Module._load = function (request, parent, isMain) {
  if (request === 'vscode') return vscode;
  return origLoad.apply(this, arguments);
};
const cp = require('child_process');
const origSpawn = cp.spawn;
cp.spawn = function (command, args, options) {
  console.log('spawn', command, JSON.stringify(args));
  return origSpawn.apply(this, arguments);
};
const ext = require(path.join(__dirname, '..', 'extension.js'));
const context = { subscriptions: [], extensionPath: __dirname, asAbsolutePath: (p) => p };
Promise.resolve(ext.activate(context)).then(
  () => { console.log('activated: the client started and initialized'); return ext.deactivate(); },
  (e) => { console.log('activation failed:', e && e.message); process.exitCode = 1; },
).then(() => { console.log('deactivated'); setTimeout(() => process.exit(), 200); });
