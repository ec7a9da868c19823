//! Plugins: what is installed (name, version, whether it is compiled and
//! ready), and installing a component from the browser.

use axum::Extension;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::StreamExt as _;
use maud::html;

use super::forms::{Field, FormData, FormError, Multipart};
use super::layout::{self, Crumb, Nav, Notice};
use super::session::CsrfPending;
use super::{Admin, sentence};
use crate::http::error::ApiError;
use crate::http::pages::{self, badge, size_binary};
use crate::plugins::PLUGIN_BYTES_MAX;

/// `GET /admin/plugins`.
pub async fn list(admin: Admin, uri: axum::http::Uri) -> Response {
    let query = FormData::query(&uri);
    let notice = match (query.get("done"), query.get("name")) {
        (Some("installed"), Some(name)) => Some(Notice::Success(format!(
            "Plugin “{name}” installed. Products can use it now."
        ))),
        _ => None,
    };
    render(&admin, notice, StatusCode::OK)
}

fn render(admin: &Admin, notice: Option<Notice>, status: StatusCode) -> Response {
    let registry = admin.state.fulfilment.registry();
    let plugins = registry.list();
    let body = html! {
        (layout::heading(html! { "Plugins" }, None))
        p.muted.intro { "Plugins personalize a product for each order: license keys, vouchers, a PDF stamped with the buyer's name. Each runs sandboxed, with no access to files or the network, within the limits the server sets." }
        section.card aria-labelledby="installed-h" {
            h2 #installed-h { "Installed" }
            @match &plugins {
                Ok(plugins) if plugins.is_empty() => { p.muted { "No plugins installed." } }
                Ok(plugins) => {
                    div.table-wrap {
                        table.table #plugins {
                            thead { tr {
                                th scope="col" { "Name" }
                                th scope="col" { "Version" }
                                th scope="col" .num { "Size" }
                                th scope="col" { "Origin" }
                                th scope="col" { "State" }
                                th scope="col" { "Installed" }
                            } }
                            tbody {
                                @for p in plugins {
                                    tr {
                                        td.strong.mono { (p.name) }
                                        td.mono.small title=(p.hash) { (&p.hash[..12]) }
                                        td.num.nowrap { (size_binary(p.size)) }
                                        td { @if p.bundled { "bundled" } @else { "uploaded" } }
                                        td { @if registry.is_loaded(&p.hash) { (badge("success", "Ready")) } @else { (badge("neutral", "Compiled on first use")) } }
                                        td.nowrap { (pages::time(p.installed_at)) }
                                    }
                                }
                            }
                        }
                    }
                }
                Err(_) => { p.error-text { "The plugin list could not be read." } }
            }
        }
        section.card aria-labelledby="install-h" {
            h2 #install-h { "Install a plugin" }
            p.muted.small { "A WebAssembly component built for " code { "wasm32-wasip2" } " against " code { "wit/waybill-plugin.wit" } ". Installing under a taken name replaces that plugin; products naming it run the new version from their next order." }
            form.install-form method="post" action="/admin/plugins" enctype="multipart/form-data" {
                (admin.csrf_field())
                div.field-row {
                    div.field {
                        label for="plugin-name" { "Name" }
                        input #plugin-name .input.mono type="text" name="name" maxlength="64" pattern="[a-z0-9][a-z0-9_\\-]*" placeholder="from the file name" aria-describedby="plugin-name-hint";
                        p.hint #plugin-name-hint { "Lowercase letters, digits, - and _." }
                    }
                    div.field.grow {
                        label for="plugin-file" { "Component (.wasm)" }
                        input #plugin-file .input-file type="file" name="component" accept=".wasm,application/wasm" required data-max-bytes=(PLUGIN_BYTES_MAX);
                    }
                }
                div.form-actions {
                    button.btn.btn-primary type="submit" { "Install" }
                }
            }
        }
    };
    let page = layout::page(
        admin,
        Nav::Plugins,
        "Plugins",
        vec![Crumb::here("Plugins")],
        notice,
        body,
    );
    (status, page).into_response()
}

/// `POST /admin/plugins`: a multipart form with `name` and `component`.
pub async fn install(
    admin: Admin,
    pending: Option<Extension<CsrfPending>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let refused = |admin: &Admin, status: StatusCode, message: String| {
        render(admin, Some(Notice::Error(message)), status)
    };
    let mut multipart =
        match Multipart::open(&headers, body, &admin.session, pending.as_deref()).await {
            Ok(m) => m,
            Err(e) => return refused(&admin, StatusCode::BAD_REQUEST, form_message(e)),
        };
    let mut name = String::new();
    let mut component: Option<(String, Vec<u8>)> = None;
    loop {
        match multipart.next().await {
            Ok(Some(Field::Text { name: field, value })) if field == "name" => {
                name = value.trim().to_owned();
            }
            Ok(Some(Field::Text { .. })) => {}
            Ok(Some(Field::File(file))) if file.name == "component" && component.is_none() => {
                let file_name = file.file_name.clone();
                let mut bytes = Vec::new();
                let mut stream = file.stream();
                while let Some(chunk) = stream.next().await {
                    let chunk = match chunk {
                        Ok(c) => c,
                        Err(e) => {
                            return refused(&admin, StatusCode::BAD_REQUEST, e.to_string());
                        }
                    };
                    if (bytes.len() + chunk.len()) as u64 > PLUGIN_BYTES_MAX {
                        return refused(
                            &admin,
                            StatusCode::PAYLOAD_TOO_LARGE,
                            format!(
                                "The component is larger than {}.",
                                size_binary(PLUGIN_BYTES_MAX)
                            ),
                        );
                    }
                    bytes.extend_from_slice(&chunk);
                }
                component = Some((file_name, bytes));
            }
            Ok(Some(Field::File(file))) => {
                if let Err(e) = file.skip().await {
                    return refused(&admin, StatusCode::BAD_REQUEST, form_message(e));
                }
            }
            Ok(None) => break,
            Err(e) => return refused(&admin, StatusCode::BAD_REQUEST, form_message(e)),
        }
    }
    let Some((file_name, bytes)) = component.filter(|(_, b)| !b.is_empty()) else {
        return refused(
            &admin,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose the plugin's .wasm file.".to_owned(),
        );
    };
    if name.is_empty() {
        name = file_name
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or("")
            .trim_end_matches(".wasm")
            .replace('_', "-")
            .to_lowercase();
    }
    let registry = admin.state.fulfilment.registry().clone();
    match registry
        .install(&name, bytes, admin.state.fulfilment.now())
        .await
    {
        Ok((record, _)) => Redirect::to(&format!(
            "/admin/plugins?done=installed&name={}",
            super::forms::percent_encode(&record.name)
        ))
        .into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            refused(&admin, e.status, sentence(&e.detail))
        }
    }
}

fn form_message(e: FormError) -> String {
    match e {
        FormError::Csrf => "The form expired; reload the page and try again.".to_owned(),
        FormError::Malformed(m) => format!("The form could not be read: {m}."),
        FormError::TooLarge => "The form has too many or too long fields.".to_owned(),
    }
}
