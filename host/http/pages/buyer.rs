//! The buyer's pages behind a download link, in the buyer's language (Polish, English).
//!
//! Only what this one link opens is shown: no ids, no other shipments, no
//! internals. The language comes from `?lang=`, then `Accept-Language`.

use maud::{DOCTYPE, Markup, html};
use time::OffsetDateTime;

use super::{BUYER_CSS, BUYER_JS, icon, raw};

/// A language the buyer pages speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Pl,
}

impl Lang {
    /// Every language, in the order the switcher lists them.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Pl];

    /// The BCP 47 code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Pl => "pl",
        }
    }

    /// The language's own name for itself.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Pl => "Polski",
        }
    }

    /// A supported language from a tag such as `pl`, `pl-PL` or `EN_gb`.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag
            .trim()
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "pl" => Some(Lang::Pl),
            _ => None,
        }
    }

    /// `?lang=` if it names a supported language, else the best supported
    /// language of `Accept-Language` (by q-value, then order), else English.
    pub fn choose(query_lang: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(lang) = query_lang.and_then(Lang::from_tag) {
            return lang;
        }
        let mut best: Option<(f32, Lang)> = None;
        for entry in accept_language.unwrap_or("").split(',').take(32) {
            let mut parts = entry.split(';');
            let Some(lang) = parts.next().and_then(Lang::from_tag) else {
                continue;
            };
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())
                .unwrap_or(0.0);
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, lang)| lang)
    }
}

/// A file as the buyer sees it.
pub struct FileView {
    pub name: String,
    pub size: u64,
    pub url: String,
    /// Completed downloads left, when the product limits them.
    pub downloads_left: Option<u32>,
}

/// What the content page shows.
pub struct ContentView {
    pub shop: String,
    pub buyer_name: String,
    pub order_number: Option<String>,
    pub files: Vec<FileView>,
    pub items: Vec<(String, String)>,
    pub expires_at: Option<OffsetDateTime>,
    /// The link itself, without a query, for the language switcher.
    pub link: String,
}

/// The page's frame: language, title, shop name, language switcher.
fn frame(lang: Lang, title: &str, shop: Option<&str>, link: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                meta name="robots" content="noindex, nofollow";
                meta name="color-scheme" content="light";
                title { (title) @if let Some(shop) = shop { " · " (shop) } }
                link rel="icon" href=(super::FAVICON);
                style { (raw(BUYER_CSS)) }
            }
            body {
                header.top {
                    div.shop {
                        @if let Some(shop) = shop {
                            span.shop-mark aria-hidden="true" { (initial(shop)) }
                            span.shop-name { (shop) }
                        }
                    }
                    @if let Some(link) = link {
                        nav.langs aria-label=(t(lang, "Language", "Język")) {
                            @for other in Lang::ALL {
                                @if other == lang {
                                    span aria-current="true" lang=(other.code()) { (other.name()) }
                                } @else {
                                    a href={ (link) "?lang=" (other.code()) } lang=(other.code()) hreflang=(other.code()) { (other.name()) }
                                }
                            }
                        }
                    }
                }
                main.sheet { (body) }
                script { (raw(BUYER_JS)) }
            }
        }
    }
}

fn initial(shop: &str) -> String {
    shop.chars()
        .find(|c| c.is_alphanumeric())
        .map_or_else(|| "•".to_owned(), |c| c.to_uppercase().collect())
}

/// English or Polish.
fn t(lang: Lang, en: &'static str, pl: &'static str) -> &'static str {
    match lang {
        Lang::En => en,
        Lang::Pl => pl,
    }
}

/// The page with the files and items.
pub fn content_page(lang: Lang, view: &ContentView) -> Markup {
    let shop = view.shop.as_str();
    let hello = match (lang, view.buyer_name.trim()) {
        (Lang::En, "") => "Hello!".to_owned(),
        (Lang::En, name) => format!("Hello {name}!"),
        (Lang::Pl, "") => "Dzień dobry!".to_owned(),
        (Lang::Pl, name) => format!("Dzień dobry, {name}!"),
    };
    let title = t(lang, "Your order is ready", "Twoje zamówienie jest gotowe");
    html! {
        (frame(lang, title, Some(shop), Some(&view.link), html! {
            p.eyebrow {
                (t(lang, "Order from ", "Zamówienie ze sklepu ")) (shop)
                @if let Some(n) = &view.order_number { " · " (t(lang, "No. ", "nr ")) (n) }
            }
            h1 { (title) }
            p.lead {
                (hello) " "
                @if view.files.is_empty() {
                    (t(lang, "Your order is below.", "Poniżej znajdziesz swoje zamówienie."))
                } @else {
                    (t(lang, "Your order is below: download your files and keep a copy.",
                           "Poniżej znajdziesz swoje zamówienie: pobierz pliki i zachowaj ich kopię."))
                }
            }
            @if !view.files.is_empty() {
                section aria-labelledby="files-h" {
                    h2 #files-h { (t(lang, "Files", "Pliki")) }
                    ul.files {
                        @for file in &view.files {
                            li.file {
                                span.file-icon { (icon::file()) }
                                span.file-text {
                                    span.file-name { (file.name) }
                                    span.file-meta {
                                        (size_si(file.size, lang))
                                        @if let Some(left) = file.downloads_left {
                                            " · " (downloads_left(lang, left))
                                        }
                                    }
                                }
                                @if file.downloads_left == Some(0) {
                                    span.button.disabled aria-disabled="true" { (t(lang, "Limit reached", "Limit wykorzystany")) }
                                } @else {
                                    a.button href=(file.url) download=(file.name) {
                                        (icon::download())
                                        span { (t(lang, "Download", "Pobierz")) }
                                        span.visually-hidden { " " (file.name) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if !view.items.is_empty() {
                section aria-labelledby="items-h" {
                    h2 #items-h { (t(lang, "Your codes and details", "Twoje kody i informacje")) }
                    ul.items {
                        @for (i, (label, value)) in view.items.iter().enumerate() {
                            li.item {
                                span.item-label #{ "item-" (i) } { (label) }
                                div.item-row {
                                    code.item-value aria-labelledby={ "item-" (i) } { (value) }
                                    button.copy type="button" hidden data-copy=(value)
                                        data-copied=(t(lang, "Copied", "Skopiowano")) {
                                        (icon::copy())
                                        span.copy-text { (t(lang, "Copy", "Kopiuj")) }
                                        span.visually-hidden { " " (label) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            footer.foot {
                @if let Some(expires) = view.expires_at {
                    p { (t(lang, "This link works until ", "Link jest ważny do ")) strong { (long_date(expires, lang)) } "." }
                }
                p { (t(lang, "Keep this link to yourself: anyone who has it can open your order.",
                       "Nie udostępniaj tego linku: każdy, kto go ma, może otworzyć Twoje zamówienie.")) }
                p { (t(lang, "Questions? Reply to the e-mail from ", "Masz pytania? Odpowiedz na e-mail od sklepu ")) (shop) "." }
            }
        }))
    }
}

/// The withdrawal-right waiver, confirmed before any content is shown.
pub fn waiver_page(lang: Lang, shop: &str, link: &str, action: &str) -> Markup {
    let title = t(
        lang,
        "One step before you open your order",
        "Jeszcze jeden krok przed otwarciem zamówienia",
    );
    html! {
        (frame(lang, title, Some(shop), Some(link), html! {
            p.eyebrow { (t(lang, "Order from ", "Zamówienie ze sklepu ")) (shop) }
            h1 { (title) }
            p.lead {
                (t(lang,
                   "Your order contains digital content. By law you may withdraw from the purchase within 14 days, unless you ask for the content to be delivered now and confirm that you thereby lose that right.",
                   "Twoje zamówienie zawiera treści cyfrowe. Zgodnie z prawem możesz odstąpić od umowy w ciągu 14 dni, chyba że zażądasz dostarczenia treści teraz i potwierdzisz, że tracisz w ten sposób prawo odstąpienia od umowy."))
            }
            form.waiver method="post" action=(action) {
                label.check {
                    input type="checkbox" name="consent" value="yes" required;
                    span {
                        (t(lang,
                           "I ask for the digital content to be delivered now, and I acknowledge that I thereby lose my right of withdrawal.",
                           "Żądam dostarczenia treści cyfrowych teraz i przyjmuję do wiadomości, że w ten sposób tracę prawo odstąpienia od umowy."))
                    }
                }
                button.button.primary type="submit" { (t(lang, "Confirm and open my order", "Potwierdzam i otwieram zamówienie")) }
            }
            footer.foot {
                p {
                    (t(lang, "If you do not want to confirm, do not open the order and contact ",
                           "Jeśli nie chcesz tego potwierdzać, nie otwieraj zamówienia i skontaktuj się ze sklepem "))
                    (shop) "."
                }
            }
        }))
    }
}

/// Title and what to do, for an error code.
fn error_text(code: &str, lang: Lang) -> (&'static str, &'static str) {
    match code {
        "token_expired" => (
            t(lang, "This link has expired", "Ten link wygasł"),
            t(
                lang,
                "Download links work for a limited time. Reply to the e-mail from the shop and ask for a new link: your order is still there.",
                "Linki do pobrania działają przez ograniczony czas. Odpowiedz na e-mail od sklepu i poproś o nowy link: Twoje zamówienie nadal na Ciebie czeka.",
            ),
        ),
        "token_revoked" => (
            t(lang, "This link no longer works", "Ten link już nie działa"),
            t(
                lang,
                "The shop sent you a newer link, or withdrew access to this order. Use the link from the shop's latest e-mail, or contact the shop if this is unexpected.",
                "Sklep wysłał Ci nowszy link albo wycofał dostęp do tego zamówienia. Użyj linku z najnowszego e-maila od sklepu lub skontaktuj się ze sklepem, jeśli to pomyłka.",
            ),
        ),
        "token_invalid" => (
            t(
                lang,
                "This link is not valid",
                "Ten link jest nieprawidłowy",
            ),
            t(
                lang,
                "Check that you opened the whole link from the e-mail: long links are sometimes cut in two. If it still does not work, ask the shop for a new link.",
                "Sprawdź, czy otwierasz cały link z e-maila: długie linki bywają ucinane. Jeśli nadal nie działa, poproś sklep o nowy link.",
            ),
        ),
        "download_limit_reached" => (
            t(
                lang,
                "Download limit reached",
                "Limit pobrań został wykorzystany",
            ),
            t(
                lang,
                "This file was downloaded as many times as the shop allows. Ask the shop to reset the limit.",
                "Ten plik pobrano już tyle razy, ile pozwala sklep. Poproś sklep o odnowienie limitu.",
            ),
        ),
        "waiver_required" => (
            t(lang, "Please confirm first", "Najpierw potwierdź"),
            t(
                lang,
                "Open the link from your e-mail and confirm the statement shown there before downloading.",
                "Otwórz link z e-maila i potwierdź wyświetlone tam oświadczenie przed pobraniem.",
            ),
        ),
        "not_found" => (
            t(lang, "File not found", "Nie znaleziono pliku"),
            t(
                lang,
                "This order has no such file. Open the link from your e-mail and use the download buttons there.",
                "To zamówienie nie zawiera takiego pliku. Otwórz link z e-maila i użyj widocznych tam przycisków pobierania.",
            ),
        ),
        "invalid_state" => (
            t(lang, "Not available", "Niedostępne"),
            t(
                lang,
                "This order cannot be opened right now. Contact the shop.",
                "Tego zamówienia nie można teraz otworzyć. Skontaktuj się ze sklepem.",
            ),
        ),
        _ => (
            t(lang, "Something went wrong", "Coś poszło nie tak"),
            t(
                lang,
                "Please try again in a moment. If it keeps happening, contact the shop.",
                "Spróbuj ponownie za chwilę. Jeśli problem się powtarza, skontaktuj się ze sklepem.",
            ),
        ),
    }
}

/// A page that says what happened to the link and what to do, in one language.
pub fn error_page(lang: Lang, shop: Option<&str>, code: &str, link: Option<&str>) -> Markup {
    let (title, what) = error_text(code, lang);
    html! {
        (frame(lang, title, shop, link, html! {
            div.problem role="alert" {
                span.problem-icon { (icon::alert()) }
                div {
                    h1 { (title) }
                    p.lead { (what) }
                }
            }
        }))
    }
}

fn downloads_left(lang: Lang, n: u32) -> String {
    match lang {
        Lang::En if n == 1 => "1 download left".to_owned(),
        Lang::En => format!("{n} downloads left"),
        Lang::Pl => {
            let form = if n == 1 {
                "pobranie"
            } else if (2..=4).contains(&(n % 10)) && !(12..=14).contains(&(n % 100)) {
                "pobrania"
            } else {
                "pobrań"
            };
            let verb = if n != 1 && form == "pobrania" {
                "pozostały"
            } else {
                "pozostało"
            };
            format!("{verb} {n} {form}")
        }
    }
}

/// A size as buyers read it (SI units, the language's decimal separator).
pub fn size_si(bytes: u64, lang: Lang) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return match lang {
            Lang::En if bytes == 1 => "1 byte".to_owned(),
            Lang::En => format!("{bytes} bytes"),
            Lang::Pl => format!("{bytes} B"),
        };
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let text = format!("{value:.1} {}", UNITS[unit]);
    match lang {
        Lang::En => text,
        Lang::Pl => text.replace('.', ","),
    }
}

/// `1 December 2026, 14:03 UTC` / `1 grudnia 2026, 14:03 UTC`.
pub fn long_date(ts: OffsetDateTime, lang: Lang) -> String {
    const EN: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const PL: [&str; 12] = [
        "stycznia",
        "lutego",
        "marca",
        "kwietnia",
        "maja",
        "czerwca",
        "lipca",
        "sierpnia",
        "września",
        "października",
        "listopada",
        "grudnia",
    ];
    let ts = ts.to_offset(time::UtcOffset::UTC);
    let month = usize::from(u8::from(ts.month())) - 1;
    let name = match lang {
        Lang::En => EN[month],
        Lang::Pl => PL[month],
    };
    format!(
        "{} {name} {}, {:02}:{:02} UTC",
        ts.day(),
        ts.year(),
        ts.hour(),
        ts.minute()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_choice() {
        let check = |q: Option<&str>, accept: Option<&str>, expected: Lang| {
            assert_eq!(Lang::choose(q, accept), expected, "{q:?} {accept:?}");
        };
        check(None, None, Lang::En);
        check(None, Some("pl-PL,pl;q=0.9,en-US;q=0.8,en;q=0.7"), Lang::Pl);
        check(None, Some("de-DE,de;q=0.9,pl;q=0.5,en;q=0.4"), Lang::Pl);
        check(None, Some("en;q=0.4,pl;q=0.6"), Lang::Pl);
        check(None, Some("pl;q=0,en"), Lang::En);
        check(None, Some("fr"), Lang::En);
        check(None, Some("garbage;;q=x,,"), Lang::En);
        check(Some("pl"), Some("en"), Lang::Pl);
        check(Some("en"), Some("pl"), Lang::En);
        check(Some("xx"), Some("pl"), Lang::Pl);
    }

    #[test]
    fn polish_plurals() {
        let check = |n: u32, expected: &str| assert_eq!(downloads_left(Lang::Pl, n), expected);
        check(0, "pozostało 0 pobrań");
        check(1, "pozostało 1 pobranie");
        check(2, "pozostały 2 pobrania");
        check(5, "pozostało 5 pobrań");
        check(12, "pozostało 12 pobrań");
        check(22, "pozostały 22 pobrania");
        assert_eq!(downloads_left(Lang::En, 1), "1 download left");
        assert_eq!(downloads_left(Lang::En, 3), "3 downloads left");
    }

    #[test]
    fn sizes_and_dates_follow_the_language() {
        assert_eq!(size_si(1_500_000, Lang::En), "1.5 MB");
        assert_eq!(size_si(1_500_000, Lang::Pl), "1,5 MB");
        assert_eq!(size_si(12, Lang::En), "12 bytes");
        let ts = OffsetDateTime::from_unix_timestamp(1_796_137_380).unwrap();
        assert_eq!(long_date(ts, Lang::En), "1 December 2026, 15:03 UTC");
        assert_eq!(long_date(ts, Lang::Pl), "1 grudnia 2026, 15:03 UTC");
    }
}
