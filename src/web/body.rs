//! Request bodies as Statuspage clients send them: JSON with a resource wrapper key
//! (`{"incident": {...}}`) or Rails-style form fields (`incident[components][ID]=x`,
//! `incident[component_ids][]=a`). Both become one `serde_json::Value`, read through
//! [`Fields`], whose accessors name the field in every error.

use actix_web::dev::Payload;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;

use super::error::ApiError;
use crate::time::PageZone;

/// Largest body accepted (postmortems of 100,000 characters fit with room).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// A parsed request body: always a JSON object (empty when there was no body).
#[derive(Debug, Clone)]
pub struct ApiBody(pub Map<String, Value>);

impl FromRequest for ApiBody {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("json"));
        let bytes = Bytes::from_request(req, payload);
        Box::pin(async move {
            let mut bytes = bytes.await?;
            if bytes.len() > BODY_LIMIT {
                bytes.truncate(0);
                return Err(ApiError::BadRequest(format!(
                    "body is larger than {BODY_LIMIT} bytes"
                ))
                .into());
            }
            Ok(parse_body(&bytes, is_json)?)
        })
    }
}

/// Parses a body: JSON when the content type says so or the body starts with `{`
/// (scripts often send `curl -d '{...}'` without a JSON content type), else a form.
pub fn parse_body(bytes: &[u8], is_json: bool) -> Result<ApiBody, ApiError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ApiError::BadRequest("body is not valid UTF-8".into()))?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Ok(ApiBody(Map::new()));
    }
    if is_json || trimmed.starts_with('{') || trimmed.starts_with('[') {
        return match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Ok(ApiBody(map)),
            Ok(_) => Err(ApiError::BadRequest("body must be a JSON object".into())),
            Err(e) => Err(ApiError::BadRequest(format!("malformed JSON: {e}"))),
        };
    }
    parse_rails_form(text).map(ApiBody)
}

/// `a[b][c]=1&a[list][]=x` → `{"a": {"b": {"c": "1"}, "list": ["x"]}}`.
pub fn parse_rails_form(text: &str) -> Result<Map<String, Value>, ApiError> {
    let mut root = Value::Object(Map::new());
    for (key, value) in form_urlencoded::parse(text.as_bytes()) {
        let path = split_key(&key)
            .ok_or_else(|| ApiError::BadRequest(format!("malformed form field name {key:?}")))?;
        insert(&mut root, &path, value.into_owned(), &key)?;
    }
    // `insert` only ever adds below the root, so the root stays an object.
    Ok(match root {
        Value::Object(map) => map,
        _ => Map::new(),
    })
}

/// `incident[components][abc]` → `["incident", "components", "abc"]`; `x[]` ends in "".
fn split_key(key: &str) -> Option<Vec<String>> {
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return None;
    }
    let mut parts = vec![head.to_owned()];
    while !rest.is_empty() {
        let inner_end = rest.strip_prefix('[')?.find(']')?;
        parts.push(rest[1..=inner_end].to_owned());
        rest = &rest[inner_end + 2..];
    }
    Some(parts)
}

fn insert(node: &mut Value, path: &[String], value: String, key: &str) -> Result<(), ApiError> {
    let conflict =
        || ApiError::BadRequest(format!("form field {key:?} conflicts with another field"));
    match path {
        [] => Err(conflict()),
        [last] if last.is_empty() => match node {
            Value::Array(items) => {
                items.push(Value::String(value));
                Ok(())
            }
            _ => Err(conflict()),
        },
        [last] => match node {
            Value::Object(map) => {
                map.insert(last.clone(), Value::String(value));
                Ok(())
            }
            _ => Err(conflict()),
        },
        [head, rest @ ..] => {
            let Value::Object(map) = node else {
                return Err(conflict());
            };
            let child = map.entry(head.clone()).or_insert_with(|| {
                if rest.len() == 1 && rest[0].is_empty() {
                    Value::Array(Vec::new())
                } else {
                    Value::Object(Map::new())
                }
            });
            insert(child, rest, value, key)
        }
    }
}

impl ApiBody {
    /// The object under the resource wrapper key, e.g. `incident`.
    pub fn resource(&self, wrapper: &'static str) -> Result<Fields<'_>, ApiError> {
        match self.0.get(wrapper) {
            Some(Value::Object(map)) => Ok(Fields { prefix: wrapper, map }),
            Some(_) => Err(ApiError::BadRequest(format!("{wrapper} must be an object"))),
            None => Err(ApiError::BadRequest(format!(
                "body must contain an {wrapper:?} object, e.g. {{\"{wrapper}\": {{...}}}} or {wrapper}[field]=value"
            ))),
        }
    }

    /// The resource object, or an empty one when the body has none.
    pub fn resource_or_empty(&self, wrapper: &'static str) -> Result<Fields<'_>, ApiError> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        match self.0.get(wrapper) {
            None => Ok(Fields {
                prefix: wrapper,
                map: EMPTY.get_or_init(Map::new),
            }),
            Some(_) => self.resource(wrapper),
        }
    }

    /// The top-level fields themselves (for the few unwrapped bodies).
    pub fn top_level(&self) -> Fields<'_> {
        Fields {
            prefix: "",
            map: &self.0,
        }
    }
}

/// Typed, lenient access to one resource's fields. JSON and form values are both
/// accepted (`"true"`, `"t"`, `"1"` are true in forms), and every error names the field
/// as the caller wrote it: `incident[status]`.
pub struct Fields<'a> {
    prefix: &'static str,
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    pub fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}[{key}]", self.prefix)
        }
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    /// A string; `null` reads as absent. Numbers are taken as their text.
    pub fn string(&self, key: &str) -> Result<Option<String>, ApiError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(ApiError::invalid(&self.name(key), "must be a string")),
        }
    }

    /// Optional text that may be cleared: absent → `None`, `null` or "" → `Some(None)`.
    pub fn nullable_string(&self, key: &str) -> Result<Option<Option<String>>, ApiError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(_) => Ok(Some(self.string(key)?.filter(|s| !s.trim().is_empty()))),
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        let invalid = || ApiError::invalid(&self.name(key), "must be true or false");
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(0) => Ok(Some(false)),
                Some(1) => Ok(Some(true)),
                _ => Err(invalid()),
            },
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "t" | "1" | "yes" | "on" => Ok(Some(true)),
                "false" | "f" | "0" | "no" | "off" | "" => Ok(Some(false)),
                _ => Err(invalid()),
            },
            Some(_) => Err(invalid()),
        }
    }

    /// A list of strings: a JSON array, a form `key[]` list, or one string.
    pub fn string_list(&self, key: &str) -> Result<Option<Vec<String>>, ApiError> {
        let invalid = || ApiError::invalid(&self.name(key), "must be a list of strings");
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(Some(Vec::new())),
            Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(invalid))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            // Rails sometimes indexes lists: key[0]=a&key[1]=b.
            Some(Value::Object(map)) => map
                .values()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(invalid))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(invalid()),
        }
    }

    /// A map of strings to strings, in the order given.
    pub fn string_map(&self, key: &str) -> Result<Option<Vec<(String, String)>>, ApiError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(ApiError::invalid(
                        &format!("{}[{k}]", self.name(key)),
                        "must be a string",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(ApiError::invalid(
                &self.name(key),
                "must be an object mapping component ids to statuses",
            )),
        }
    }

    /// A point in time; a time without an offset is read in the page's zone.
    pub fn time(&self, key: &str, zone: PageZone) -> Result<Option<DateTime<Utc>>, ApiError> {
        match self.string(key)? {
            None => Ok(None),
            Some(raw) if raw.trim().is_empty() => Ok(None),
            Some(raw) => zone.parse_time(&raw).map(Some).ok_or_else(|| {
                ApiError::invalid(
                    &self.name(key),
                    format!("must be an ISO 8601 time such as 2025-11-20T13:55:00Z (got {raw:?})"),
                )
            }),
        }
    }

    /// A date or a time: `YYYY-MM-DD`, `MM/DD/YYYY`, or ISO 8601.
    pub fn date_or_time(
        &self,
        key: &str,
        zone: PageZone,
    ) -> Result<Option<DateTime<Utc>>, ApiError> {
        match self.string(key)? {
            None => Ok(None),
            Some(raw) if raw.trim().is_empty() => Ok(None),
            Some(raw) => zone.parse_date_or_time(&raw).map(Some).ok_or_else(|| {
                ApiError::invalid(
                    &self.name(key),
                    format!("must be a date (YYYY-MM-DD or MM/DD/YYYY) or an ISO 8601 time (got {raw:?})"),
                )
            }),
        }
    }

    /// `YYYY-MM-DD`; `null` or "" clears it.
    pub fn date(&self, key: &str) -> Result<Option<Option<NaiveDate>>, ApiError> {
        match self.nullable_string(key)? {
            None => Ok(None),
            Some(None) => Ok(Some(None)),
            Some(Some(raw)) => NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
                .map(|d| Some(Some(d)))
                .map_err(|_| {
                    ApiError::invalid(
                        &self.name(key),
                        format!("must be a date as YYYY-MM-DD (got {raw:?})"),
                    )
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(text: &str) -> Value {
        Value::Object(parse_rails_form(text).unwrap())
    }

    #[test]
    fn rails_brackets_become_nested_objects_and_lists() {
        let v = form(
            "incident[name]=Elevated%20errors&incident[component_ids][]=a&incident[component_ids][]=b\
             &incident[components][a]=major_outage&incident[metadata][jira][issue_id]=OPS-1",
        );
        assert_eq!(
            v,
            json!({"incident": {
                "name": "Elevated errors",
                "component_ids": ["a", "b"],
                "components": {"a": "major_outage"},
                "metadata": {"jira": {"issue_id": "OPS-1"}}
            }})
        );
    }

    #[test]
    fn plus_is_a_space_and_conflicts_are_refused() {
        assert_eq!(form("a[b]=x+y"), json!({"a": {"b": "x y"}}));
        assert!(parse_rails_form("a=1&a[b]=2").is_err());
        assert!(parse_rails_form("a[b=1").is_err());
        assert!(parse_rails_form("[x]=1").is_err());
    }

    #[test]
    fn json_is_detected_by_content_type_or_first_brace() {
        assert!(parse_body(br#"{"incident": {"name": "x"}}"#, false).is_ok());
        assert!(matches!(
            parse_body(b"{not json", true),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_body(b"[1]", true),
            Err(ApiError::BadRequest(_))
        ));
        assert!(parse_body(b"", true).unwrap().0.is_empty());
    }

    #[test]
    fn lenient_booleans_and_precise_errors() {
        let body = parse_body(b"incident[a]=t&incident[b]=0&incident[c]=maybe", false).unwrap();
        let f = body.resource("incident").unwrap();
        assert_eq!(f.bool("a").unwrap(), Some(true));
        assert_eq!(f.bool("b").unwrap(), Some(false));
        let err = f.bool("c").unwrap_err().to_string();
        assert_eq!(err, "incident[c] must be true or false");
        assert_eq!(f.bool("missing").unwrap(), None);
    }

    proptest::proptest! {
        /// Any nesting of names and values survives being written as Rails form
        /// fields and read back.
        #[test]
        fn form_encoding_round_trips(
            fields in proptest::collection::btree_map("[a-z_]{1,8}", "[ -~é\n]{0,12}", 1..5),
            lists in proptest::collection::btree_map("[a-z_]{1,8}", proptest::collection::vec("[ -~]{0,6}", 1..4), 0..3),
        ) {
            let mut pairs: Vec<(String, String)> = Vec::new();
            let mut expected = Map::new();
            for (k, v) in &fields {
                pairs.push((format!("incident[{k}]"), v.clone()));
                expected.insert(k.clone(), Value::String(v.clone()));
            }
            for (k, items) in &lists {
                // A digit keeps list names apart from the plain fields (which have none).
                let key = format!("{k}9");
                for item in items {
                    pairs.push((format!("incident[{key}][]"), item.clone()));
                }
                expected.insert(key, Value::Array(items.iter().cloned().map(Value::String).collect()));
            }
            let text: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
            let parsed = parse_rails_form(&text).unwrap();
            proptest::prop_assert_eq!(parsed.get("incident"), Some(&Value::Object(expected)));
        }
    }

    #[test]
    fn wrong_types_name_the_field() {
        let body = parse_body(
            br#"{"incident": {"name": ["x"], "components": "api"}}"#,
            true,
        )
        .unwrap();
        let f = body.resource("incident").unwrap();
        assert_eq!(
            f.string("name").unwrap_err().to_string(),
            "incident[name] must be a string"
        );
        assert!(f
            .string_map("components")
            .unwrap_err()
            .to_string()
            .starts_with("incident[components]"));
        assert!(body.resource("component").is_err());
    }
}
