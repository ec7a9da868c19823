//! Settings: a read-only view of the configuration the server runs with.

use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::Admin;
use super::layout::{self, Crumb, Nav};
use super::session::SESSION_SECS;
use crate::http::pages::{badge, size_binary};

/// `GET /admin/settings`.
pub async fn show(admin: Admin) -> Response {
    let state = &admin.state;
    let link_base = state.fulfilment.download_url("");
    let public_url = link_base.trim_end_matches("/d/").to_owned();
    let keys_url = format!("{public_url}/.well-known/waybill/keys");
    let keys = state.fulfilment.keys().public_keys();
    let body = html! {
        (layout::heading(html! { "Settings" }, None))
        p.muted.intro { "What this server runs with. Change it with " code { "waybill serve" } " flags or " code { "WAYBILL_*" } " environment variables, then restart." }
        section.card aria-labelledby="shop-h" {
            h2 #shop-h { "Shop" }
            dl.facts.wide {
                dt { "Shop name" } dd { (state.shop_name) span.muted.small { " · " code { "--shop-name" } } }
                dt { "Public URL" } dd { span.mono { (public_url) } span.muted.small { " · " code { "--public-url" } } }
                dt { "Buyer links" } dd { span.mono { (link_base) "<token>" } }
            }
        }
        section.card aria-labelledby="mail-h" {
            h2 #mail-h { "Mail" }
            dl.facts.wide { (mail_description(&admin)) }
        }
        section.card aria-labelledby="files-h" {
            h2 #files-h { "Files" }
            dl.facts.wide {
                dt { "Upload limit" } dd { (size_binary(state.upload_bytes_max)) span.muted.small { " (" (state.upload_bytes_max) " bytes) · " code { "--upload-bytes-max" } } }
            }
        }
        (plugins_card(&admin))
        section.card aria-labelledby="keys-h" {
            h2 #keys-h { "Download tokens" }
            p.muted.small { "Buyer links are PASETO v4.public tokens signed with Ed25519; anyone can verify them offline with these public keys." }
            dl.facts.wide {
                dt { "Public keys" } dd { a.mono href=(keys_url) { (keys_url) } }
                dt { "Key ids" } dd {
                    @for (i, key) in keys.iter().enumerate() {
                        div { span.mono { (key.kid) } @if i == 0 { " " span.badge.badge-success { span.dot {} "signing" } } }
                    }
                }
            }
        }
        section.card aria-labelledby="admin-h" {
            h2 #admin-h { "Admin sign-in" }
            dl.facts.wide {
                dt { "Signed in with" } dd { "API key " strong { (admin.session.key_name) } }
                dt { "Session" } dd { (SESSION_SECS / 3600) " hours · ends " (crate::http::pages::time(admin.session.expires_at)) }
                dt { "More keys" } dd { code { "waybill keys create NAME" } }
            }
        }
    };
    layout::page(
        &admin,
        Nav::Settings,
        "Settings",
        vec![Crumb::here("Settings")],
        None,
        body,
    )
    .into_response()
}

/// The limits every plugin run gets, where compiled plugins are kept, and
/// the key plugins sign licenses with.
fn plugins_card(admin: &Admin) -> Markup {
    let registry = admin.state.fulfilment.registry();
    let limits = registry.sandbox().limits();
    html! {
        section.card aria-labelledby="plugins-h" {
            h2 #plugins-h { "Plugins" }
            dl.facts.wide {
                dt { "Time per run" } dd { (limits.wall_time_ms_max) " ms" span.muted.small { " · " code { "--plugin-wall-time-ms-max" } } }
                dt { "Fuel per run" } dd { (limits.fuel_max) span.muted.small { " (about one per instruction) · " code { "--plugin-fuel-max" } } }
                dt { "Memory per run" } dd { (size_binary(limits.memory_bytes_max as u64)) span.muted.small { " · " code { "--plugin-memory-bytes-max" } } }
                dt { "Output per run" } dd { (size_binary(limits.output_bytes_max)) " in at most " (limits.output_files_max) " files, " (limits.items_max) " text items" }
                dt { "Compiled plugins" } dd { span.mono { (registry.cache_dir().display()) } span.muted.small { " · " code { "--plugin-cache-dir" } } }
                dt { "License signing key" } dd {
                    @match registry.sandbox().signer() {
                        Some(signer) => { span.mono { (signer.key_id()) } div.muted.small { "Plugins sign licenses with it through the host (the key never enters the sandbox); its public half is published with the token keys." } }
                        None => span.muted { "none" },
                    }
                }
            }
        }
    }
}

/// Most queued e-mails counted for the page.
const OUTBOX_COUNT_MAX: usize = 1000;

/// How buyer e-mails leave the server, and what waits in the queue now.
fn mail_description(admin: &Admin) -> Markup {
    let queue = admin
        .state
        .store
        .read()
        .and_then(|r| r.outbox(OUTBOX_COUNT_MAX + 1));
    html! {
        dt { "Delivery" }
        dd {
            (admin.state.mail_transport)
            div.muted.small { "Set with " code { "--smtp-url smtp://host:port" } "; without it, e-mails are written to the server's log." }
        }
        dt { "Queue" }
        dd {
            @match &queue {
                Ok(q) if q.is_empty() => { (badge("success", "Empty")) " every buyer e-mail was handed over" }
                Ok(q) => {
                    @let failing = q.iter().filter(|(_, m)| m.last_error.is_some()).count();
                    @if failing > 0 { (badge("danger", "Retrying")) } @else { (badge("warning", "Sending")) }
                    " "
                    @if q.len() > OUTBOX_COUNT_MAX { "more than " (OUTBOX_COUNT_MAX) } @else { (q.len()) }
                    @if q.len() == 1 { " e-mail waiting" } @else { " e-mails waiting" }
                    @if let Some(error) = q.iter().rev().find_map(|(_, m)| m.last_error.as_deref()) {
                        div.small.error-text { "Last error: " (error) }
                    }
                }
                Err(_) => span.muted { "The queue could not be read." },
            }
        }
    }
}
