//! The product's plugin config: what the stamp says and where it goes.

use serde::Deserialize;

/// Config, every field optional, e.g.
/// `{"template": "Licensed to {name} <{email}>, order {order}",
///   "position": "bottom", "font_size": 9, "opacity": 0.6}`.
/// Unknown fields are refused (catching typos).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The stamp's text. Placeholders: `{name}`, `{email}`, `{order}`,
    /// `{shipment}`, `{product}`, `{sku}`, `{date}` (issue date); `{{` and
    /// `}}` for braces.
    pub template: String,
    /// Where on the page, as the reader sees it (page rotation honoured).
    pub position: Position,
    /// Points; shrunk to fit the page's width when the text is longer.
    pub font_size: f64,
    /// 0.05 (faint) to 1 (opaque).
    pub opacity: f64,
    /// `#RRGGBB`.
    pub color: String,
    /// Distance from the page's edges, in points.
    pub margin: f64,
}

/// Where the stamp goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Position {
    /// Top left corner.
    TopLeft,
    /// Top edge, centred.
    Top,
    /// Top right corner.
    TopRight,
    /// Bottom left corner.
    BottomLeft,
    /// Bottom edge, centred.
    Bottom,
    /// Bottom right corner.
    BottomRight,
    /// The page's centre.
    Center,
    /// Across the page's centre, from the bottom left to the top right.
    Diagonal,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            template: "Licensed to {name} <{email}>, order {order}".into(),
            position: Position::Bottom,
            font_size: 9.0,
            opacity: 0.6,
            color: "#7F7F7F".into(),
            margin: 18.0,
        }
    }
}

/// What placeholders stand for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Buyer's name.
    pub name: String,
    /// Buyer's e-mail.
    pub email: String,
    /// Order id.
    pub order: String,
    /// Shipment id.
    pub shipment: String,
    /// Product name.
    pub product: String,
    /// Product SKU.
    pub sku: String,
    /// Issue date, `YYYY-MM-DD`.
    pub date: String,
}

/// Limits on the config.
pub const FONT_SIZE_MIN: f64 = 4.0;
/// Largest font size.
pub const FONT_SIZE_MAX: f64 = 144.0;
/// Faintest stamp.
pub const OPACITY_MIN: f64 = 0.05;
/// Longest template, in characters.
pub const TEMPLATE_CHARS_MAX: usize = 500;

impl Config {
    /// Checks the config; the error says what to change.
    pub fn validate(&self) -> Result<(), String> {
        if self.template.chars().count() > TEMPLATE_CHARS_MAX {
            return Err(format!("template: at most {TEMPLATE_CHARS_MAX} characters"));
        }
        render(&self.template, &Facts::default())?;
        if self.template.trim().is_empty() {
            return Err("template: must not be empty".into());
        }
        if !(FONT_SIZE_MIN..=FONT_SIZE_MAX).contains(&self.font_size) {
            return Err(format!(
                "font_size: {FONT_SIZE_MIN} to {FONT_SIZE_MAX} points"
            ));
        }
        if !(OPACITY_MIN..=1.0).contains(&self.opacity) {
            return Err(format!("opacity: {OPACITY_MIN} to 1"));
        }
        if !(0.0..=200.0).contains(&self.margin) {
            return Err("margin: 0 to 200 points".into());
        }
        self.rgb()?;
        Ok(())
    }

    /// The colour as three 0..1 components.
    pub fn rgb(&self) -> Result<[f64; 3], String> {
        let hex = self
            .color
            .strip_prefix('#')
            .filter(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| format!("color: {:?} is not #RRGGBB", self.color))?;
        let channel =
            |i: usize| f64::from(u8::from_str_radix(&hex[i..i + 2], 16).expect("checked")) / 255.0;
        Ok([channel(0), channel(2), channel(4)])
    }
}

/// The template with its placeholders filled in, on one line.
pub fn render(template: &str, facts: &Facts) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{{") {
            out.push('{');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            out.push('}');
            rest = after;
        } else if tail.starts_with('}') {
            return Err("template: a lone `}` (write `}}`)".into());
        } else {
            let end = tail.find('}').ok_or_else(|| {
                "template: a `{` without `}` (write `{{` for a brace)".to_string()
            })?;
            let value = match &tail[1..end] {
                "name" => &facts.name,
                "email" => &facts.email,
                "order" => &facts.order,
                "shipment" => &facts.shipment,
                "product" => &facts.product,
                "sku" => &facts.sku,
                "date" => &facts.date,
                other => {
                    return Err(format!(
                        "template: unknown placeholder {{{other}}}; use {{name}} {{email}} {{order}} \
                         {{shipment}} {{product}} {{sku}} {{date}}"
                    ));
                }
            };
            out.push_str(value);
            rest = &tail[end + 1..];
        }
    }
    out.push_str(rest);
    Ok(out.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            name: "Zoë Kowalska".into(),
            email: "zoe@example.com".into(),
            order: "ord_1".into(),
            shipment: "shp_1".into(),
            product: "Rust Handbook".into(),
            sku: "rust-hb".into(),
            date: "2026-12-03".into(),
        }
    }

    #[test]
    fn templates_render() {
        let check = |t: &str, want: &str| assert_eq!(render(t, &facts()).unwrap(), want, "{t}");
        check("{name} <{email}>", "Zoë Kowalska <zoe@example.com>");
        check("{{literal}} {order}/{shipment}", "{literal} ord_1/shp_1");
        check(
            "{product} ({sku}) {date}",
            "Rust Handbook (rust-hb) 2026-12-03",
        );
        check("two\nlines  {order}", "two lines ord_1");
    }

    #[test]
    fn bad_templates_say_why() {
        let check = |t: &str, want: &str| {
            let e = render(t, &facts()).unwrap_err();
            assert!(e.contains(want), "{t}: {e}");
        };
        check("{nmae}", "unknown placeholder {nmae}");
        check("{name", "without `}`");
        check("name}", "lone `}`");
    }

    #[test]
    fn configs_are_validated() {
        let parse = |json: &str| serde_json::from_str::<Config>(json);
        assert!(parse("{}").unwrap().validate().is_ok());
        let ok = parse(
            r##"{"position": "diagonal", "font_size": 40, "opacity": 0.2, "color": "#ff0000"}"##,
        )
        .unwrap();
        assert!(ok.validate().is_ok());
        assert_eq!(ok.rgb().unwrap(), [1.0, 0.0, 0.0]);
        assert!(parse(r#"{"position": "middle"}"#).is_err());
        assert!(
            parse(r#"{"fontsize": 9}"#)
                .unwrap_err()
                .to_string()
                .contains("unknown field")
        );
        for (json, field) in [
            (r#"{"font_size": 2}"#, "font_size"),
            (r#"{"opacity": 0}"#, "opacity"),
            (r#"{"opacity": 1.5}"#, "opacity"),
            (r#"{"color": "red"}"#, "color"),
            (r#"{"margin": -1}"#, "margin"),
            (r#"{"template": " "}"#, "empty"),
            (r#"{"template": "{oops}"}"#, "oops"),
        ] {
            let e = parse(json).unwrap().validate().unwrap_err();
            assert!(e.contains(field), "{json}: {e}");
        }
    }
}
