//! HTML form bodies (`application/x-www-form-urlencoded`) and the errors a form
//! shows next to its fields.

use std::collections::BTreeMap;

use actix_web::web::Bytes;

use crate::domain::DomainError;
use crate::store::StoreError;

/// Form fields in the order sent, repeated keys kept (checkbox lists).
#[derive(Debug, Clone, Default)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(body: &Bytes) -> Form {
        Form(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The fields of a request's query string (`?q=...&state=...`), read the same way:
    /// a repeated or odd key is no error, as it would be for a typed query.
    pub fn query(req: &actix_web::HttpRequest) -> Form {
        Form(
            form_urlencoded::parse(req.query_string().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The first value of `key`, if sent.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `key`, or "" when not sent.
    pub fn text(&self, key: &str) -> String {
        self.get(key).unwrap_or_default().to_owned()
    }

    /// Whether a checkbox was ticked.
    pub fn checked(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| !v.is_empty() && v != "0")
    }

    /// Every field, the first value of each key winning.
    pub fn to_map(&self) -> std::collections::HashMap<String, String> {
        let mut map = std::collections::HashMap::new();
        for (k, v) in &self.0 {
            map.entry(k.clone()).or_insert_with(|| v.clone());
        }
        map
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// Problems with a submitted form, by field name, to print next to each field. A
/// message for a field the form does not show goes under [`FormErrors::GENERAL`].
#[derive(Debug, Clone, Default)]
pub struct FormErrors(BTreeMap<String, String>);

impl FormErrors {
    /// Where problems that belong to no single field go (shown above the form).
    pub const GENERAL: &'static str = "_form";

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_insert_with(|| message.into());
    }

    /// Records a rule the domain found broken, under the field it names.
    pub fn domain(&mut self, error: &DomainError) {
        self.add(error.field.clone(), error.message.clone());
    }

    /// Runs a parser; on failure records its error and gives `None`.
    pub fn check<T>(&mut self, result: Result<T, DomainError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.domain(&e);
                None
            }
        }
    }

    /// Records a change the store refused because of what was typed, next to the
    /// field it names (`renames` maps the store's field names, the `/v1` API's such as
    /// `component[group_id]`, to the form's). Any other failure is handed back.
    pub fn refusal(
        &mut self,
        error: StoreError,
        renames: &[(&str, &str)],
    ) -> Result<(), StoreError> {
        match error {
            StoreError::Invalid(e) => {
                let field = renames
                    .iter()
                    .find(|(from, _)| *from == e.field)
                    .map_or(e.field.as_str(), |(_, to)| to);
                self.add(field, e.message.clone());
                Ok(())
            }
            other => Err(other),
        }
    }

    /// The value of a store call; `None` when the store refused what was typed (the
    /// refusal is recorded as with [`FormErrors::refusal`]: show the form again).
    pub fn accept<T>(
        &mut self,
        result: Result<T, StoreError>,
        renames: &[(&str, &str)],
    ) -> Result<Option<T>, StoreError> {
        match result {
            Ok(value) => Ok(Some(value)),
            Err(error) => self.refusal(error, renames).map(|()| None),
        }
    }

    /// The message for `field`, for the template.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    /// Messages for fields the form does not show, with their field's name.
    pub fn others(&self, shown: &[&str]) -> Vec<String> {
        self.0
            .iter()
            .filter(|(field, _)| !shown.contains(&field.as_str()))
            .map(|(field, message)| {
                if field == Self::GENERAL {
                    message.clone()
                } else {
                    format!("{field} {message}")
                }
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_keep_repeated_keys_and_errors_keep_the_first_message() {
        let form = Form::parse(&Bytes::from_static(b"a=1&b=x+y&a=2&c=&d=on"));
        assert_eq!(form.get("a"), Some("1"));
        assert_eq!(form.all("a"), vec!["1", "2"]);
        assert_eq!(form.text("b"), "x y");
        assert_eq!(form.text("missing"), "");
        assert!(!form.checked("c") && form.checked("d"));

        let mut errors = FormErrors::default();
        errors.add("name", "can't be blank");
        errors.add("name", "second");
        errors.domain(&DomainError::new("hidden", "is wrong"));
        assert_eq!(errors.get("name"), Some("can't be blank"));
        assert_eq!(errors.others(&["name"]), vec!["hidden is wrong"]);

        let refusal = StoreError::Invalid(DomainError::new("component[group_id]", "is unknown"));
        let renames = [("component[group_id]", "group_id")];
        assert_eq!(errors.accept::<()>(Err(refusal), &renames).unwrap(), None);
        assert_eq!(errors.get("group_id"), Some("is unknown"));
        assert_eq!(errors.accept(Ok(7), &renames).unwrap(), Some(7));
        let other = StoreError::NotFound("component");
        assert!(errors.refusal(other, &renames).is_err());
    }
}
