// The rnnc extension for VS Code: the grammar and language configuration are
// declared in package.json; this file starts `rnnc lsp` (the executable named by
// the `rnnc.path` setting) as the language server of `.rnn` documents.
'use strict';

const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client;

function startClient() {
  const command = vscode.workspace.getConfiguration('rnnc').get('path') || 'rnnc';
  const serverOptions = { command, args: ['lsp'], transport: TransportKind.stdio };
  const clientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'rnn' },
      { scheme: 'untitled', language: 'rnn' },
    ],
  };
  client = new LanguageClient('rnnc', 'rnnc language server', serverOptions, clientOptions);
  return client.start();
}

function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand('rnnc.restartServer', async () => {
      if (client) {
        await client.stop();
      }
      await startClient();
    }),
  );
  return startClient();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
