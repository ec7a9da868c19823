//! Input rules shared by every way data enters the domain (API, admin pages, CLI).

use std::fmt;

/// Most lines one order may have.
pub const LINES_PER_ORDER_MAX: usize = 100;
/// Largest quantity of one order line.
pub const QUANTITY_MAX: u32 = 1000;
/// Most text items one shipment may carry.
pub const ITEMS_PER_SHIPMENT_MAX: usize = 1000;
/// Longest text item label, in characters.
pub const ITEM_LABEL_CHARS_MAX: usize = 200;
/// Longest text item value, in characters.
pub const ITEM_VALUE_CHARS_MAX: usize = 10_000;
/// Longest e-mail address (RFC 5321 path limit).
const EMAIL_CHARS_MAX: usize = 254;

/// Input that breaks a rule; the message names the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError(pub String);

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ValidationError {}

/// Checks a short required text: not blank, at most `chars_max` characters, no control characters.
pub fn check_text(field: &str, value: &str, chars_max: usize) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(ValidationError(format!("`{field}` must not be empty")));
    }
    if value.chars().count() > chars_max {
        return Err(ValidationError(format!(
            "`{field}` is longer than {chars_max} characters"
        )));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ValidationError(format!(
            "`{field}` must not contain control characters"
        )));
    }
    Ok(())
}

/// Checks an e-mail address the way a mail server would accept it: one `@`,
/// a non-empty local part, a dotted domain, no spaces or control characters.
pub fn check_email(field: &str, email: &str) -> Result<(), ValidationError> {
    let invalid = || ValidationError(format!("`{field}` is not a valid e-mail address"));
    if email.len() > EMAIL_CHARS_MAX
        || email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[]\\,;:\"".contains(c))
    {
        return Err(invalid());
    }
    let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
    let labels_ok = domain.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    });
    if local.is_empty()
        || local.len() > 64
        || local.contains('@')
        || !domain.contains('.')
        || !labels_ok
    {
        return Err(invalid());
    }
    Ok(())
}

/// Checks one text item (label and value).
pub fn check_item(label: &str, value: &str) -> Result<(), ValidationError> {
    check_text("label", label, ITEM_LABEL_CHARS_MAX)?;
    check_text("value", value, ITEM_VALUE_CHARS_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(email: &str, ok: bool) {
        assert_eq!(check_email("email", email).is_ok(), ok, "{email}");
    }

    #[test]
    fn emails() {
        check("ala@example.com", true);
        check("a.b+tag@sub.example.pl", true);
        check("zażółć@przykład.pl", true);
        check("", false);
        check("ala", false);
        check("ala@", false);
        check("@example.com", false);
        check("ala@example", false);
        check("ala@@example.com", false);
        check("ala @example.com", false);
        check("ala@exa mple.com", false);
        check("ala@example..com", false);
        check("ala@-example.com", false);
        check("ala@example.com\r\nBcc: x@y.z", false);
        check(&format!("{}@example.com", "a".repeat(65)), false);
    }

    #[test]
    fn texts() {
        assert!(check_text("name", "Ebook", 10).is_ok());
        assert!(check_text("name", "   ", 10).is_err());
        assert!(check_text("name", "12345678901", 10).is_err());
        assert!(check_text("name", "a\u{0}b", 10).is_err());
        assert!(check_text("name", "ąęśćżźółń", 9).is_ok());
    }
}
