//! Stripe's request encoding: `application/x-www-form-urlencoded` with bracketed keys,
//! `line_items[0][price]=price_1&metadata[user]=u1`, decoded into JSON. Numeric segments make
//! arrays; everything else makes objects; values stay strings, as Stripe reads them.

use serde_json::{Map, Value};

/// Decodes a form body. A malformed key (`a[b`), or a key that is both a value and a
/// container (`a=1&a[b]=2`, in either order), is an error naming it.
pub fn decode(body: &str) -> Result<Value, String> {
    let mut root = Value::Object(Map::new());
    for (key, value) in url::form_urlencoded::parse(body.as_bytes()) {
        let path = segments(&key).ok_or_else(|| format!("Invalid parameter name: {key}"))?;
        insert(&mut root, &path, Value::String(value.into_owned()))
            .map_err(|_| format!("Invalid parameter: {key} conflicts with another parameter"))?;
    }
    Ok(normalize(root, false))
}

/// `a[b][0]` → `["a", "b", "0"]`.
fn segments(key: &str) -> Option<Vec<String>> {
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return None;
    }
    let mut out = vec![head.to_owned()];
    while !rest.is_empty() {
        let close = rest.find(']')?;
        if !rest.starts_with('[') {
            return None;
        }
        out.push(rest[1..close].to_owned());
        rest = &rest[close + 1..];
    }
    Some(out)
}

fn insert(node: &mut Value, path: &[String], value: Value) -> Result<(), ()> {
    let Value::Object(map) = node else {
        return Err(());
    };
    // `a[]` appends: it takes the next free index.
    let key = |segment: &String, map: &Map<String, Value>| {
        if segment.is_empty() {
            format!("{}", map.len())
        } else {
            segment.clone()
        }
    };
    match path {
        [last] => {
            let last = key(last, map);
            if map.get(&last).is_some_and(Value::is_object) {
                return Err(());
            }
            map.insert(last, value);
            Ok(())
        }
        [first, rest @ ..] => {
            let first = key(first, map);
            let child = map
                .entry(first)
                .or_insert_with(|| Value::Object(Map::new()));
            insert(child, rest, value)
        }
        [] => Err(()),
    }
}

/// Objects whose keys are all indices become arrays, in order — except under `metadata`,
/// whose keys are the caller's own (`metadata[2024]=x` stays a map).
fn normalize(value: Value, in_metadata: bool) -> Value {
    match value {
        Value::Object(map) => {
            let indexed = !in_metadata
                && !map.is_empty()
                && map.keys().all(|k| k.chars().all(|c| c.is_ascii_digit()));
            if indexed {
                let mut items: Vec<(usize, Value)> = map
                    .into_iter()
                    .map(|(k, v)| (k.parse().unwrap_or(usize::MAX), normalize(v, false)))
                    .collect();
                items.sort_by_key(|(i, _)| *i);
                Value::Array(items.into_iter().map(|(_, v)| v).collect())
            } else {
                Value::Object(
                    map.into_iter()
                        .map(|(k, v)| {
                            let metadata = k == "metadata";
                            (k, normalize(v, metadata))
                        })
                        .collect(),
                )
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_make_objects_and_arrays() {
        let body = "mode=subscription&line_items%5B0%5D%5Bprice%5D=price_1&line_items[0][quantity]=2\
                    &line_items[1][price]=price_2&metadata[user_id]=u_1&expand[]=customer";
        assert_eq!(
            decode(body).unwrap(),
            serde_json::json!({
                "mode": "subscription",
                "line_items": [{"price": "price_1", "quantity": "2"}, {"price": "price_2"}],
                "metadata": {"user_id": "u_1"},
                "expand": ["customer"],
            })
        );
    }

    #[test]
    fn malformed_keys_are_named() {
        assert_eq!(decode("a[b=1").unwrap_err(), "Invalid parameter name: a[b");
        assert!(decode("a=1&a[b]=2").is_err());
        assert!(decode("a[b]=2&a=1").is_err());
    }

    #[test]
    fn repeated_brackets_append_and_metadata_keeps_its_keys() {
        assert_eq!(
            decode("expand[]=a&expand[]=b&metadata[2024]=x&metadata[0]=y").unwrap(),
            serde_json::json!({ "expand": ["a", "b"], "metadata": { "2024": "x", "0": "y" } })
        );
    }
}
