//! The server's state and main loop: the open documents, the derived facts, and
//! the dispatch of each request and notification to its module. One thread
//! handles messages in order; diagnostics are published after every open and
//! change, computed from the new text at once (a check takes well under a
//! millisecond for a shipped cell); everything else is computed on request.
//! A panic while answering a request (a bug) becomes an error response: the
//! server keeps serving.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Notification as _, PublishDiagnostics,
};
use lsp_types::request::{
    CodeLensRequest, Completion, DocumentSymbolRequest, GotoDefinition, HoverRequest, InlayHintRequest, Request as _,
};
use lsp_types::{
    CodeLensOptions, CompletionOptions, CompletionResponse, DocumentSymbolResponse, GotoDefinitionResponse,
    HoverProviderCapability, InitializeParams, OneOf, PublishDiagnosticsParams, ServerCapabilities,
    TextDocumentPositionParams, TextDocumentSyncCapability, TextDocumentSyncKind, TextDocumentSyncOptions, Uri,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::analysis::check_errors;
use super::diagnostics::to_diagnostics;
use super::document::Document;
use super::facts::FactsCache;
use super::position::Encoding;
use super::{completion, definition, hover, lens, symbols};

/// What the server holds between messages.
#[derive(Debug)]
pub struct Server {
    encoding: Encoding,
    documents: HashMap<Uri, Document>,
    facts: FactsCache,
}

impl Server {
    /// A server with no documents, counting positions in `encoding`.
    pub fn new(encoding: Encoding) -> Server {
        Server { encoding, documents: HashMap::new(), facts: FactsCache::default() }
    }

    /// What the server can do.
    pub fn capabilities(&self) -> ServerCapabilities {
        ServerCapabilities {
            position_encoding: Some(self.encoding.kind()),
            text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::INCREMENTAL),
                ..TextDocumentSyncOptions::default()
            })),
            hover_provider: Some(HoverProviderCapability::Simple(true)),
            definition_provider: Some(OneOf::Left(true)),
            document_symbol_provider: Some(OneOf::Left(true)),
            completion_provider: Some(CompletionOptions::default()),
            code_lens_provider: Some(CodeLensOptions { resolve_provider: Some(false) }),
            inlay_hint_provider: Some(OneOf::Left(true)),
            ..ServerCapabilities::default()
        }
    }

    /// Handles a notification; returns the notifications to send back
    /// (`textDocument/publishDiagnostics`). A panic (a bug) drops the
    /// notification's document, which the client then has to open again.
    pub fn notify(&mut self, notification: Notification) -> Vec<Notification> {
        let uri = notification.params["textDocument"]["uri"].as_str().and_then(|uri| uri.parse::<Uri>().ok());
        catch_unwind(AssertUnwindSafe(|| self.document_notification(notification))).unwrap_or_else(|_| {
            if let Some(uri) = uri {
                self.documents.remove(&uri);
            }
            Vec::new()
        })
    }

    fn document_notification(&mut self, notification: Notification) -> Vec<Notification> {
        match notification.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let Ok(params) =
                    notification.extract::<lsp_types::DidOpenTextDocumentParams>(DidOpenTextDocument::METHOD)
                else {
                    return Vec::new();
                };
                let document = params.text_document;
                self.documents
                    .insert(document.uri.clone(), Document::new(document.text, document.version, self.encoding));
                self.publish(&document.uri)
            }
            DidChangeTextDocument::METHOD => {
                let Ok(params) =
                    notification.extract::<lsp_types::DidChangeTextDocumentParams>(DidChangeTextDocument::METHOD)
                else {
                    return Vec::new();
                };
                let uri = params.text_document.uri;
                let Some(document) = self.documents.get_mut(&uri) else { return Vec::new() };
                document.apply(params.content_changes, params.text_document.version);
                self.publish(&uri)
            }
            DidCloseTextDocument::METHOD => {
                let Ok(params) =
                    notification.extract::<lsp_types::DidCloseTextDocumentParams>(DidCloseTextDocument::METHOD)
                else {
                    return Vec::new();
                };
                let uri = params.text_document.uri;
                self.documents.remove(&uri);
                let cleared = PublishDiagnosticsParams { uri, diagnostics: Vec::new(), version: None };
                vec![Notification::new(PublishDiagnostics::METHOD.to_owned(), cleared)]
            }
            _ => Vec::new(),
        }
    }

    /// `rnnc check`'s errors of document `uri`, as a notification.
    fn publish(&self, uri: &Uri) -> Vec<Notification> {
        let Some(document) = self.documents.get(uri) else { return Vec::new() };
        let errors = check_errors(&document.text);
        let diagnostics = to_diagnostics(uri, &document.text, &document.index, &errors);
        let params = PublishDiagnosticsParams { uri: uri.clone(), diagnostics, version: Some(document.version) };
        vec![Notification::new(PublishDiagnostics::METHOD.to_owned(), params)]
    }

    /// Answers a request; a panic becomes an internal-error response.
    pub fn request(&mut self, request: Request) -> Response {
        let id = request.id.clone();
        let method = request.method.clone();
        catch_unwind(AssertUnwindSafe(|| self.answer(request))).unwrap_or_else(|_| {
            Response::new_err(id, ErrorCode::InternalError as i32, format!("rnnc: internal error answering {method}"))
        })
    }

    fn answer(&mut self, request: Request) -> Response {
        let id = request.id.clone();
        let result = match request.method.as_str() {
            HoverRequest::METHOD => self.at_position(&request, |server, uri, offset| {
                let document = &server.documents[uri];
                hover::hover(document, &mut server.facts, offset)
            }),
            GotoDefinition::METHOD => self.at_position(&request, |server, uri, offset| {
                definition::definition(uri, &server.documents[uri], offset).map(GotoDefinitionResponse::Scalar)
            }),
            Completion::METHOD => self.at_position(&request, |server, uri, offset| {
                Some(CompletionResponse::Array(completion::completion(&server.documents[uri], offset)))
            }),
            DocumentSymbolRequest::METHOD => params::<lsp_types::DocumentSymbolParams>(&request).map(|p| {
                let symbols = self.documents.get(&p.text_document.uri).map(symbols::symbols);
                json(symbols.map(DocumentSymbolResponse::Nested))
            }),
            CodeLensRequest::METHOD => params::<lsp_types::CodeLensParams>(&request).map(|p| {
                let Some(document) = self.documents.get(&p.text_document.uri) else { return Value::Null };
                json(lens::code_lenses(document, &mut self.facts))
            }),
            InlayHintRequest::METHOD => params::<lsp_types::InlayHintParams>(&request).map(|p| {
                let Some(document) = self.documents.get(&p.text_document.uri) else { return Value::Null };
                json(lens::inlay_hints(document, &mut self.facts, p.range))
            }),
            _ => Err((ErrorCode::MethodNotFound, format!("rnnc does not answer {}", request.method))),
        };
        match result {
            Ok(value) => Response { id, response_result: Ok(value) },
            Err((code, message)) => Response::new_err(id, code as i32, message),
        }
    }

    /// A request at a place in an open document: `answer` gets the document's
    /// uri and the byte offset; an unknown document answers `null`.
    fn at_position<R: serde::Serialize>(
        &mut self,
        request: &Request,
        answer: impl FnOnce(&mut Server, &Uri, u32) -> Option<R>,
    ) -> Result<Value, (ErrorCode, String)> {
        let place: TextDocumentPositionParams = params(request)?;
        let uri = place.text_document.uri;
        let Some(document) = self.documents.get(&uri) else { return Ok(Value::Null) };
        let offset = document.offset(place.position);
        Ok(json(answer(self, &uri, offset)))
    }
}

fn params<P: DeserializeOwned>(request: &Request) -> Result<P, (ErrorCode, String)> {
    serde_json::from_value(request.params.clone())
        .map_err(|e| (ErrorCode::InvalidParams, format!("bad parameters for {}: {e}", request.method)))
}

fn json(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Runs the protocol on `connection` until the client says `exit` or goes away.
pub fn run(connection: &Connection) -> Result<(), String> {
    let protocol = |e: lsp_server::ProtocolError| format!("language server protocol: {e}");
    let (id, params) = connection.initialize_start().map_err(protocol)?;
    let params: InitializeParams =
        serde_json::from_value(params).map_err(|e| format!("bad initialize parameters: {e}"))?;
    let offered = params.capabilities.general.and_then(|general| general.position_encodings);
    let mut server = Server::new(Encoding::negotiate(offered.as_deref()));
    let result = serde_json::json!({
        "capabilities": server.capabilities(),
        "serverInfo": { "name": "rnnc", "version": env!("CARGO_PKG_VERSION") },
    });
    connection.initialize_finish(id, result).map_err(protocol)?;
    let gone = |_| "the client closed the connection".to_owned();
    for message in &connection.receiver {
        match message {
            Message::Request(request) => {
                if connection.handle_shutdown(&request).map_err(protocol)? {
                    return Ok(());
                }
                connection.sender.send(Message::Response(server.request(request))).map_err(gone)?;
            }
            Message::Notification(notification) if notification.method == "exit" => return Ok(()),
            Message::Notification(notification) => {
                for reply in server.notify(notification) {
                    connection.sender.send(Message::Notification(reply)).map_err(gone)?;
                }
            }
            Message::Response(_) => {}
        }
    }
    Ok(())
}
