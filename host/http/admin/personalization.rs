//! The shipment page's "Personalization" card: the plugin's state, why its
//! last run failed (with its stderr), and "Run plugin again".

use maud::{Markup, html};

use super::Admin;
use crate::domain::{Personalization, PersonalizationStatus, Shipment, ShipmentStatus};
use crate::http::pages::{self, badge};

fn status_badge(status: PersonalizationStatus) -> Markup {
    match status {
        PersonalizationStatus::Queued => badge("warning", "Running"),
        PersonalizationStatus::Succeeded => badge("success", "Done"),
        PersonalizationStatus::Failed => badge("danger", "Failed"),
    }
}

/// The card, when the shipment's product plugin was queued at least once.
pub fn card(admin: &Admin, shipment: &Shipment) -> Option<Markup> {
    let p: &Personalization = shipment.data().personalization.as_ref()?;
    let id = &shipment.data().id;
    let editable = shipment.status() == ShipmentStatus::InPreparation;
    Some(html! {
        section.card #personalization aria-labelledby="personalization-h" {
            div.card-head {
                h2 #personalization-h { "Personalization" }
                (status_badge(p.status))
            }
            p {
                "Plugin " strong.mono { (p.plugin) }
                @match p.status {
                    PersonalizationStatus::Queued => {
                        " is running for this shipment (queued " (pages::time(p.queued_at)) "). "
                        a href={ "/admin/shipments/" (id) } { "Refresh" } " to see its result."
                    }
                    PersonalizationStatus::Succeeded => {
                        " made the items marked “plugin” and the files whose source is “Plugin”"
                        @if let Some(t) = p.finished_at { " " (pages::time(t)) } "."
                    }
                    PersonalizationStatus::Failed => {
                        " failed"
                        @if let Some(t) = p.finished_at { " " (pages::time(t)) } "."
                    }
                }
            }
            @if let Some(f) = &p.failure {
                div.notice.notice-error.run-failure role="alert" #personalization-error { div {
                    strong { "Why: " } (f.message) " " span.mono.small { "(" (f.code) ")" }
                    div.small { "Nothing of that run was attached; the shipment stays in preparation. Fix the product's plugin configuration, or attach the content by hand." }
                } }
            }
            @if let Some(run) = &p.last_run {
                details.run-details {
                    summary { "Last run: " (run.wall_time_ms) " ms, " (run.fuel_used) " fuel · run " (p.runs) @if p.runs != 1 { " times" } @else { " time" } }
                    dl.facts {
                        @if !run.plugin_version.is_empty() {
                            dt { "Version" } dd.mono.small { (run.plugin_version) }
                        }
                        dt { "stdout" } dd {
                            @if run.stdout.is_empty() { span.muted { "(empty)" } } @else { pre.log { (run.stdout) } }
                        }
                        dt { "stderr" } dd {
                            @if run.stderr.is_empty() { span.muted { "(empty)" } } @else { pre.log #plugin-stderr { (run.stderr) } }
                        }
                        dt { "Log" } dd {
                            @if run.log.is_empty() { span.muted { "(empty)" } } @else { pre.log { (run.log) } }
                        }
                    }
                }
            }
            @if editable && p.status != PersonalizationStatus::Queued {
                form method="post" action={ "/admin/shipments/" (id) "/personalize" }
                    data-confirm="Run the plugin again?\n\nThe items and files of its last run are replaced; what you attached by hand stays." {
                    (admin.csrf_field())
                    input type="hidden" name="confirmed" value="";
                    button.btn.btn-sm type="submit" { "Run plugin again" }
                }
            }
        }
    })
}
