//! The admin pages' frame: header with the shop's name, the left menu, and page helpers.

use axum::response::Html;
use maud::{DOCTYPE, Markup, html};

use super::Admin;
use crate::http::pages::{admin_css_url, admin_js_url, icon};

/// Which menu entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Orders,
    Shipments,
    Products,
    Plugins,
    Settings,
}

/// One step of the breadcrumb trail; the last is the current page.
pub struct Crumb {
    pub label: String,
    pub href: Option<String>,
}

impl Crumb {
    pub fn link(label: impl Into<String>, href: impl Into<String>) -> Crumb {
        Crumb {
            label: label.into(),
            href: Some(href.into()),
        }
    }

    pub fn here(label: impl Into<String>) -> Crumb {
        Crumb {
            label: label.into(),
            href: None,
        }
    }
}

/// A message shown at the top of a page after an action.
pub enum Notice {
    Success(String),
    Error(String),
    Info(String),
}

impl Notice {
    pub fn render(&self) -> Markup {
        let (class, text, role) = match self {
            Notice::Success(t) => ("notice notice-success", t, "status"),
            Notice::Error(t) => ("notice notice-error", t, "alert"),
            Notice::Info(t) => ("notice notice-info", t, "status"),
        };
        html! {
            div class=(class) role=(role) tabindex="-1" data-focus {
                @match self {
                    Notice::Success(_) => (icon::check()),
                    _ => (icon::alert()),
                }
                span { (text) }
            }
        }
    }
}

fn head(title: &str, shop: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="robots" content="noindex, nofollow";
            meta name="referrer" content="same-origin";
            meta name="color-scheme" content="light";
            title { (title) " · " (shop) " admin" }
            link rel="icon" href=(crate::http::pages::FAVICON);
            link rel="stylesheet" href=(admin_css_url());
            script src=(admin_js_url()) defer {}
        }
    }
}

/// A full admin page: header, menu, breadcrumbs, notice, then `body`.
pub fn page(
    admin: &Admin,
    nav: Nav,
    title: &str,
    crumbs: Vec<Crumb>,
    notice: Option<Notice>,
    body: Markup,
) -> Html<String> {
    let shop = &admin.state.shop_name;
    let item = |target: Nav, href: &str, label: &str, icon: Markup, sub: bool| {
        let current = nav == target;
        html! {
            a.nav-link.nav-sub[sub] href=(href) aria-current=[current.then_some("page")] {
                (icon) span { (label) }
            }
        }
    };
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, shop))
            body.admin {
                a.skip-link href="#main" { "Skip to content" }
                header.appbar {
                    a.brand href="/admin/orders" {
                        (icon::logo())
                        span.brand-text {
                            span.brand-shop { (shop) }
                            span.brand-sub { "Waybill admin" }
                        }
                    }
                    div.appbar-user {
                        span.muted.small.hide-narrow { "Signed in with key " strong { (admin.session.key_name) } }
                        form method="post" action="/admin/logout" {
                            (admin.csrf_field())
                            button.btn.btn-ghost.btn-sm type="submit" { "Sign out" }
                        }
                    }
                }
                div.shell {
                    nav.sidebar aria-label="Main menu" {
                        ul {
                            li { (item(Nav::Orders, "/admin/orders", "Orders", icon::orders(), false))
                                ul { li { (item(Nav::Shipments, "/admin/shipments", "Digital shipments", icon::shipments(), true)) } }
                            }
                            li { (item(Nav::Products, "/admin/products", "Products", icon::products(), false)) }
                            li { (item(Nav::Plugins, "/admin/plugins", "Plugins", icon::plugins(), false)) }
                            li { (item(Nav::Settings, "/admin/settings", "Settings", icon::settings(), false)) }
                        }
                    }
                    main #main tabindex="-1" {
                        @if crumbs.len() > 1 {
                            nav.crumbs aria-label="Breadcrumb" {
                                ol {
                                    @for crumb in &crumbs {
                                        li {
                                            @match &crumb.href {
                                                Some(href) => a href=(href) { (crumb.label) },
                                                None => span aria-current="page" { (crumb.label) },
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        @if let Some(notice) = &notice { (notice.render()) }
                        (body)
                    }
                }
            }
        }
    };
    Html(markup.into_string())
}

/// A page without the menu, for sign-in.
pub fn auth_page(shop: &str, title: &str, body: Markup) -> Html<String> {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, shop))
            body.auth {
                main #main {
                    div.auth-brand {
                        (icon::logo())
                        span.brand-text {
                            span.brand-shop { (shop) }
                            span.brand-sub { "Waybill admin" }
                        }
                    }
                    (body)
                }
            }
        }
    };
    Html(markup.into_string())
}

/// A page without the menu or the shop's name, for refusals and failures.
pub fn bare_page(title: &str, body: Markup) -> Html<String> {
    auth_page("Waybill", title, body)
}

/// Page heading with optional actions on the right.
pub fn heading(title: Markup, actions: Option<Markup>) -> Markup {
    html! {
        div.page-head {
            h1 { (title) }
            @if let Some(actions) = actions { div.page-actions { (actions) } }
        }
    }
}
