//! Products: the catalogue list and the create/replace form (files uploaded
//! in the same form, streamed; items; download limit; link lifetime; waiver).

use axum::Extension;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::forms::{Field, FormData, FormError, Multipart};
use super::layout::{self, Crumb, Nav, Notice};
use super::session::CsrfPending;
use super::{Admin, Failure, failure_page, sentence};
use crate::domain::{PluginRef, ProductKind, ProductTerms, check_item, check_text};
use crate::fulfilment::{ProductInput, UploadMeta};
use crate::http::files::sanitize_file_name;
use crate::http::pages::{self, badge, size_binary};
use crate::store::Source;

/// Most static items one product may carry (as the API allows).
const PRODUCT_ITEMS_MAX: usize = 100;
/// Longest link lifetime: ten years (as the API allows).
const LINK_TTL_HOURS_MAX: u32 = 24 * 365 * 10;
/// Default link lifetime offered for a new product: 30 days.
const LINK_TTL_HOURS_DEFAULT: u32 = 720;
/// Most files one form submission may upload.
const FORM_FILES_MAX: usize = 20;
/// Empty item rows offered below the existing ones.
const BLANK_ITEM_ROWS: usize = 2;

/// The form's fields, as shown and as submitted.
#[derive(Debug, Clone, Default)]
struct ProductForm {
    creating: bool,
    sku: String,
    name: String,
    kind: String,
    /// Files offered with a "keep" box: id, name, size, kept.
    files: Vec<(String, String, u64, bool)>,
    items: Vec<(String, String)>,
    download_limit: String,
    link_ttl_hours: String,
    waiver: bool,
    /// The plugin's name, empty for none.
    plugin: String,
    /// Its configuration, JSON object text.
    plugin_config: String,
    auto_prepare: bool,
}

fn check_sku(sku: &str) -> Result<(), String> {
    if sku.is_empty()
        || sku.len() > 100
        || !sku
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(
            "The SKU must be 1 to 100 characters of letters, digits, “-”, “_” and “.”.".to_owned(),
        );
    }
    Ok(())
}

/// `GET /admin/products`.
pub async fn list(admin: Admin, headers: HeaderMap) -> Response {
    let products = match admin.state.store.read().and_then(|r| r.products()) {
        Ok(p) => p,
        Err(e) => return failure_page(&admin, &headers, Nav::Products, e.into()),
    };
    let body = html! {
        (layout::heading(html! { "Products" }, Some(html! { a.btn.btn-primary href="/admin/products/new" { "New product" } })))
        @if products.is_empty() {
            div.empty {
                p.strong { "No products yet." }
                p.muted { "Create one here or with " code { "PUT /api/v1/products/{sku}" } "; orders name products by SKU." }
            }
        } @else {
            div.table-wrap {
                table.table {
                    thead { tr {
                        th scope="col" { "Product" }
                        th scope="col" { "SKU" }
                        th scope="col" { "Kind" }
                        th scope="col" { "Delivers" }
                        th scope="col" { "Downloads" }
                        th scope="col" { "Link valid" }
                        th scope="col" { "Waiver" }
                        th scope="col" { "Updated (UTC)" }
                    } }
                    tbody {
                        @for p in &products {
                            tr {
                                td { a.strong href={ "/admin/products/" (p.sku) "/edit" } { (p.name) } }
                                td.mono.small { (p.sku) }
                                td { (kind_badge(p.kind)) }
                                td.small {
                                    @if p.has_content() {
                                        (count(p.files.len(), "file", "files")) ", " (count(p.items.len(), "item", "items"))
                                        @if p.kind == ProductKind::Personalized { br; span.muted { "+ what you prepare per order" } }
                                    } @else {
                                        span.muted { "What you prepare per order" }
                                    }
                                }
                                td { @match p.terms.download_limit { Some(l) => { (l) " per file" }, None => "Unlimited" } }
                                td.nowrap { (pages::duration_hours(p.terms.link_ttl_hours)) }
                                td { @if p.terms.requires_withdrawal_waiver { "Required" } @else { span.muted { "—" } } }
                                td.nowrap { (pages::time_short(p.updated_at)) }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::page(
        &admin,
        Nav::Products,
        "Products",
        vec![Crumb::here("Products")],
        None,
        body,
    )
    .into_response()
}

fn kind_badge(kind: ProductKind) -> Markup {
    match kind {
        ProductKind::Standard => badge("info", "Standard"),
        ProductKind::Personalized => badge("warning", "Personalized"),
    }
}

fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// `GET /admin/products/new`.
pub async fn new(admin: Admin) -> Response {
    let form = ProductForm {
        creating: true,
        kind: "personalized".to_owned(),
        link_ttl_hours: LINK_TTL_HOURS_DEFAULT.to_string(),
        ..ProductForm::default()
    };
    render_form(&admin, &form, None, StatusCode::OK)
}

/// `GET /admin/products/{sku}/edit`.
pub async fn edit(admin: Admin, Path(sku): Path<String>, headers: HeaderMap) -> Response {
    let product = match admin.state.fulfilment.product(&sku) {
        Ok(p) => p,
        Err(e) => return failure_page(&admin, &headers, Nav::Products, e.into()),
    };
    let form = ProductForm {
        creating: false,
        sku: product.sku.clone(),
        name: product.name.clone(),
        kind: product.kind.as_str().to_owned(),
        files: product
            .files
            .iter()
            .map(|f| (f.id.clone(), f.name.clone(), f.size, true))
            .collect(),
        items: product.items.clone(),
        download_limit: product
            .terms
            .download_limit
            .map(|l| l.to_string())
            .unwrap_or_default(),
        link_ttl_hours: product.terms.link_ttl_hours.to_string(),
        waiver: product.terms.requires_withdrawal_waiver,
        plugin: product
            .plugin
            .as_ref()
            .map(|p| p.name.clone())
            .unwrap_or_default(),
        plugin_config: product
            .plugin
            .as_ref()
            .map(|p| p.config_json.clone())
            .unwrap_or_default(),
        auto_prepare: product.auto_prepare,
    };
    render_form(&admin, &form, None, StatusCode::OK)
}

fn render_form(
    admin: &Admin,
    form: &ProductForm,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let limit = admin.state.upload_bytes_max;
    let title = if form.creating {
        "New product".to_owned()
    } else {
        format!("Edit {}", form.name)
    };
    let blank_rows = BLANK_ITEM_ROWS + usize::from(form.items.is_empty());
    let body = html! {
        (layout::heading(html! { (title) }, None))
        form.card.product-form method="post" action="/admin/products" enctype="multipart/form-data" {
            (admin.csrf_field())
            input type="hidden" name="mode" value=(if form.creating { "create" } else { "replace" });
            fieldset {
                legend { "Product" }
                div.field-row {
                    div.field {
                        label for="sku" { "SKU" }
                        @if form.creating {
                            input #sku .input.mono type="text" name="sku" value=(form.sku) required maxlength="100"
                                pattern="[A-Za-z0-9._\\-]+" aria-describedby="sku-hint" autocomplete="off";
                            p.hint #sku-hint { "Your shop's product code; orders name products by it. Letters, digits, - _ ." }
                        } @else {
                            input #sku .input.mono type="text" name="sku" value=(form.sku) readonly aria-describedby="sku-hint";
                            p.hint #sku-hint { "The SKU of an existing product cannot change." }
                        }
                    }
                    div.field.grow {
                        label for="name" { "Name" }
                        input #name .input type="text" name="name" value=(form.name) required maxlength="200";
                    }
                }
                div.field {
                    span.label #kind-label { "Kind" }
                    div.choices role="radiogroup" aria-labelledby="kind-label" {
                        label.choice {
                            input type="radio" name="kind" value="standard" checked[form.kind == "standard"];
                            span { strong { "Standard" } span.hint { "Delivered as soon as the payment is recorded: the same files and items for every buyer." } }
                        }
                        label.choice {
                            input type="radio" name="kind" value="personalized" checked[form.kind == "personalized"];
                            span { strong { "Personalized" } span.hint { "Each order is prepared before delivery: by its plugin, by you, or by a shop system." } }
                        }
                    }
                }
            }
            (plugin_fieldset(admin, form))
            fieldset {
                legend { "Files every buyer gets" }
                p.hint { "With a plugin, these are its source files: buyers get only what the plugin makes of them, never the originals." }
                @if form.files.is_empty() {
                    p.muted.small { "No files yet." }
                } @else {
                    ul.keep-list {
                        @for (i, (id, name, size, kept)) in form.files.iter().enumerate() {
                            li {
                                label.check-inline {
                                    input type="checkbox" name="keep_file" value=(id) checked[*kept] id={ "keep-" (i) };
                                    span { (name) " " span.muted.small { "(" (size_binary(*size)) ")" } }
                                }
                            }
                        }
                    }
                    p.hint { "Untick a file to remove it from the product (orders placed before keep their copy)." }
                }
                div.field {
                    label for="files" { "Add files" }
                    input #files .input-file type="file" name="files" multiple data-max-bytes=(limit) aria-describedby="files-hint files-error";
                    p.hint #files-hint { "Up to " (size_binary(limit)) " each." }
                    p.field-error #files-error role="alert" hidden {}
                }
            }
            fieldset {
                legend { "Text every buyer gets" }
                p.hint { "For example an access code or a link. Leave a row empty to skip it." }
                div.items-grid {
                    span.label aria-hidden="true" { "Label" }
                    span.label aria-hidden="true" { "Value" }
                    @for (i, (label, value)) in form.items.iter().map(|(l, v)| (l.as_str(), v.as_str())).chain(std::iter::repeat_n(("", ""), blank_rows)).enumerate() {
                        input.input type="text" name="item_label" value=(label) maxlength="200" aria-label={ "Item " (i + 1) " label" };
                        input.input type="text" name="item_value" value=(value) maxlength="10000" aria-label={ "Item " (i + 1) " value" };
                    }
                }
            }
            fieldset {
                legend { "Delivery terms" }
                div.field-row {
                    div.field {
                        label for="download_limit" { "Downloads per file" }
                        input #download_limit .input type="number" name="download_limit" min="1" step="1" value=(form.download_limit) placeholder="Unlimited" aria-describedby="dl-hint";
                        p.hint #dl-hint { "Completed downloads allowed per file. Empty: unlimited." }
                    }
                    div.field {
                        label for="link_ttl_hours" { "Link valid for (hours)" }
                        input #link_ttl_hours .input type="number" name="link_ttl_hours" min="1" max=(LINK_TTL_HOURS_MAX) step="1" value=(form.link_ttl_hours) required aria-describedby="ttl-hint";
                        p.hint #ttl-hint { "720 hours = 30 days from preparation." }
                    }
                }
                label.check-inline {
                    input type="checkbox" name="waiver" value="1" checked[form.waiver];
                    span { "The buyer must confirm the withdrawal-right waiver before opening digital content" }
                }
            }
            div.form-actions {
                button.btn.btn-primary type="submit" { @if form.creating { "Create product" } @else { "Save product" } }
                a.btn href="/admin/products" { "Cancel" }
            }
        }
    };
    let page = layout::page(
        admin,
        Nav::Products,
        &title,
        vec![
            Crumb::link("Products", "/admin/products"),
            Crumb::here(title.clone()),
        ],
        error.map(Notice::Error),
        body,
    );
    (status, page).into_response()
}

fn form_error(e: FormError, limit: u64) -> Failure {
    match e {
        FormError::Csrf => Failure::new(
            StatusCode::FORBIDDEN,
            "The form's security token is missing or out of date. Reload the page and try again.",
        ),
        FormError::TooLarge => {
            Failure::new(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.")
        }
        FormError::Malformed(_) => Failure::new(
            StatusCode::BAD_REQUEST,
            format!(
                "The form could not be read; an upload may have been interrupted. Files are limited to {} each.",
                size_binary(limit)
            ),
        ),
    }
}

/// `POST /admin/products`: create (refused if the SKU exists) or replace.
pub async fn save(
    admin: Admin,
    pending: Option<Extension<CsrfPending>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let limit = admin.state.upload_bytes_max;
    let mut multipart =
        match Multipart::open(&headers, body, &admin.session, pending.as_deref()).await {
            Ok(m) => m,
            Err(e) => return failure_page(&admin, &headers, Nav::Products, form_error(e, limit)),
        };
    let mut fields = FormData::default();
    let mut uploaded: Vec<(String, String, u64)> = Vec::new();
    loop {
        let field = match multipart.next().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return failure_page(&admin, &headers, Nav::Products, form_error(e, limit)),
        };
        match field {
            Field::Text { name, value } => fields.push(name, value),
            Field::File(file) if file.name == "files" && !file.file_name.is_empty() => {
                if uploaded.len() >= FORM_FILES_MAX {
                    return failure_page(
                        &admin,
                        &headers,
                        Nav::Products,
                        Failure::new(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            format!("Upload at most {FORM_FILES_MAX} files at once."),
                        ),
                    );
                }
                let Some(name) = sanitize_file_name(&file.file_name) else {
                    if let Err(e) = file.skip().await {
                        return failure_page(&admin, &headers, Nav::Products, form_error(e, limit));
                    }
                    continue;
                };
                let meta = UploadMeta {
                    name,
                    content_type: file.content_type.clone(),
                };
                match admin
                    .state
                    .fulfilment
                    .upload_file(file.stream(), meta)
                    .await
                {
                    Ok(f) => uploaded.push((f.id, f.name, f.size)),
                    Err(e) => {
                        let mut f = Failure::from(e);
                        if f.status == StatusCode::PAYLOAD_TOO_LARGE {
                            f.message = format!(
                                "A file is larger than {}, the largest file you can upload. The product was not saved.",
                                size_binary(limit)
                            );
                        }
                        return failure_page(&admin, &headers, Nav::Products, f);
                    }
                }
            }
            Field::File(file) => {
                if let Err(e) = file.skip().await {
                    return failure_page(&admin, &headers, Nav::Products, form_error(e, limit));
                }
            }
        }
    }
    let form = form_from_fields(&admin, &fields, &uploaded);
    let input = match validate(&form) {
        Ok(input) => input,
        Err(message) => {
            return render_form(
                &admin,
                &form,
                Some(message),
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    let existing = match admin.state.store.read().and_then(|r| r.product(&form.sku)) {
        Ok(p) => p,
        Err(e) => return failure_page(&admin, &headers, Nav::Products, e.into()),
    };
    if existing.is_some() && form.creating {
        return render_form(
            &admin,
            &form,
            Some(format!(
                "A product with SKU “{}” exists already. Edit it from the product list instead.",
                form.sku
            )),
            StatusCode::CONFLICT,
        );
    }
    match admin
        .state
        .fulfilment
        .put_product(form.sku.clone(), input)
        .await
    {
        Ok(_) => Redirect::to("/admin/products").into_response(),
        Err(e) => {
            let f = Failure::from(e);
            render_form(&admin, &form, Some(f.message), f.status)
        }
    }
}

/// The form as submitted, with the files it kept and uploaded.
fn form_from_fields(
    admin: &Admin,
    fields: &FormData,
    uploaded: &[(String, String, u64)],
) -> ProductForm {
    let mut files: Vec<(String, String, u64, bool)> = Vec::new();
    for id in fields.all("keep_file") {
        if files.iter().any(|f| f.0 == id) {
            continue;
        }
        if let Ok(f) = admin.state.fulfilment.file(id) {
            files.push((f.id, f.name, f.size, true));
        }
    }
    for (id, name, size) in uploaded {
        if !files.iter().any(|f| &f.0 == id) {
            files.push((id.clone(), name.clone(), *size, true));
        }
    }
    let labels = fields.all("item_label");
    let values = fields.all("item_value");
    let items = labels
        .iter()
        .zip(values.iter().chain(std::iter::repeat(&"")))
        .map(|(l, v)| {
            (
                l.trim().to_owned(),
                v.replace("\r\n", "\n").trim().to_owned(),
            )
        })
        .filter(|(l, v)| !(l.is_empty() && v.is_empty()))
        .collect();
    ProductForm {
        creating: fields.get("mode") != Some("replace"),
        sku: fields.get("sku").unwrap_or("").trim().to_owned(),
        name: fields.get("name").unwrap_or("").trim().to_owned(),
        kind: fields.get("kind").unwrap_or("").to_owned(),
        files,
        items,
        download_limit: fields.get("download_limit").unwrap_or("").trim().to_owned(),
        link_ttl_hours: fields.get("link_ttl_hours").unwrap_or("").trim().to_owned(),
        waiver: fields.get("waiver").is_some(),
        plugin: fields.get("plugin").unwrap_or("").trim().to_owned(),
        plugin_config: fields.get("plugin_config").unwrap_or("").trim().to_owned(),
        auto_prepare: fields.get("auto_prepare").is_some(),
    }
}

/// The plugin that personalizes the product, its configuration, and
/// whether its result is prepared (delivered) without the seller.
fn plugin_fieldset(admin: &Admin, form: &ProductForm) -> Markup {
    let installed = admin.state.fulfilment.registry().list().unwrap_or_default();
    html! {
        fieldset {
            legend { "Personalization" }
            div.field-row {
                div.field {
                    label for="plugin" { "Plugin" }
                    select #plugin .input name="plugin" aria-describedby="plugin-hint" {
                        option value="" selected[form.plugin.is_empty()] { "None: prepared by hand" }
                        @for p in &installed {
                            option value=(p.name) selected[form.plugin == p.name] { (p.name) }
                        }
                        @if !form.plugin.is_empty() && !installed.iter().any(|p| p.name == form.plugin) {
                            option value=(form.plugin) selected { (form.plugin) " (not installed)" }
                        }
                    }
                    p.hint #plugin-hint { "Personalized products only. It runs when the order is paid. " a href="/admin/plugins" { "Installed plugins" } }
                }
                div.field.grow {
                    label for="plugin_config" { "Plugin configuration (JSON)" }
                    textarea #plugin_config .input.mono name="plugin_config" rows="3" maxlength="10000" placeholder="{}" aria-describedby="config-hint" { (form.plugin_config) }
                    p.hint #config-hint { "A JSON object the plugin reads, e.g. " code { "{\"groups\": 5}" } "." }
                }
            }
            label.check-inline {
                input type="checkbox" name="auto_prepare" value="1" checked[form.auto_prepare];
                span { "Prepare automatically when the plugin succeeds (the buyer is e-mailed at once)" }
            }
        }
    }
}

fn validate(form: &ProductForm) -> Result<ProductInput, String> {
    check_sku(&form.sku)?;
    check_text("name", &form.name, 200)
        .map_err(|_| "Give the product a name of at most 200 characters.".to_owned())?;
    let kind = ProductKind::parse(&form.kind)
        .ok_or("Choose the product's kind: standard or personalized.")?;
    if form.items.len() > PRODUCT_ITEMS_MAX {
        return Err(format!(
            "A product carries at most {PRODUCT_ITEMS_MAX} text items."
        ));
    }
    for (label, value) in &form.items {
        if label.is_empty() || value.is_empty() {
            return Err("Each text item needs both a label and a value.".to_owned());
        }
        check_item(label, value).map_err(|e| sentence(&e.0.replace('`', "")))?;
    }
    let download_limit = match form.download_limit.as_str() {
        "" => None,
        s => match s.parse::<u32>() {
            Ok(n) if n >= 1 => Some(n),
            _ => return Err(
                "Downloads per file must be a whole number of at least 1, or empty for unlimited."
                    .to_owned(),
            ),
        },
    };
    let link_ttl_hours = match form.link_ttl_hours.parse::<u32>() {
        Ok(n) if (1..=LINK_TTL_HOURS_MAX).contains(&n) => n,
        _ => {
            return Err(format!(
                "The link's validity must be between 1 and {LINK_TTL_HOURS_MAX} hours."
            ));
        }
    };
    let files: Vec<String> = form
        .files
        .iter()
        .filter(|f| f.3)
        .map(|f| f.0.clone())
        .collect();
    if kind == ProductKind::Standard && files.is_empty() && form.items.is_empty() {
        return Err(
            "A standard product is delivered at once, so it needs at least one file or text item."
                .to_owned(),
        );
    }
    let plugin = if form.plugin.is_empty() {
        None
    } else {
        let config = if form.plugin_config.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::from_str::<serde_json::Value>(&form.plugin_config)
                .map_err(|e| format!("The plugin configuration is not valid JSON: {e}."))?
        };
        if !config.is_object() {
            return Err(
                "The plugin configuration must be a JSON object, like {\"key\": \"value\"}."
                    .to_owned(),
            );
        }
        Some(PluginRef {
            name: form.plugin.clone(),
            config_json: crate::http::api::canonical_json(&config),
        })
    };
    Ok(ProductInput {
        name: form.name.clone(),
        kind,
        files,
        items: form.items.clone(),
        plugin,
        auto_prepare: form.auto_prepare,
        terms: ProductTerms {
            download_limit,
            link_ttl_hours,
            requires_withdrawal_waiver: form.waiver,
        },
    })
}
