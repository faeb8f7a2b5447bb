//! What people type into the tier and product forms, read into the API's terms: amounts as
//! written (`29`, `29.50`, `1,299.99`) into a currency's smallest unit, and limit lines
//! (`ai_tokens 100000 soft then 0.02 per 1000`) into the API's limit rules.

use serde_json::{Value, json};

const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];

pub fn major_units(amount: i64, currency: &str) -> String {
    if ZERO_DECIMAL.contains(&currency) {
        amount.to_string()
    } else {
        format!("{}.{:02}", amount / 100, amount % 100)
    }
}

/// `29`, `29.5`, `29.50` → 2950 (whole units for zero-decimal currencies).
pub fn minor_units(text: &str, currency: &str) -> Result<i64, String> {
    let bad = || format!("“{text}” is not an amount: write it like 29.00.");
    let text = text.replace(',', "");
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    if ZERO_DECIMAL.contains(&currency) {
        if !fraction.is_empty() {
            return Err(format!(
                "{} has no minor unit: write a whole amount.",
                currency.to_uppercase()
            ));
        }
        return Ok(whole);
    }
    if fraction.len() > 2 || !fraction.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let cents: i64 = format!("{fraction:0<2}").parse().map_err(|_| bad())?;
    whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(cents))
        .ok_or_else(bad)
}

/// `requests 1000 hard` and `ai_tokens 100000 soft then 0.02 per 1000` lines → the API's
/// limits (the overage in `currency`).
pub fn parse_limits(text: &str, currency: &str) -> Result<Vec<Value>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (metric, limit, enforcement, overage) = match words.as_slice() {
                [metric, limit] => (*metric, *limit, "hard", None),
                [metric, limit, enforcement] => (*metric, *limit, *enforcement, None),
                [metric, limit, enforcement, "then", amount] => {
                    (*metric, *limit, *enforcement, Some((*amount, "1")))
                }
                [metric, limit, enforcement, "then", amount, "per", per] => {
                    (*metric, *limit, *enforcement, Some((*amount, *per)))
                }
                _ => {
                    return Err(format!(
                        "Limits, line {}: write a metric, a limit and optionally hard or soft, like “requests 1000 hard”, and for a soft limit what goes beyond it costs, like “then 0.02 per 1000”.",
                        i + 1
                    ));
                }
            };
            let overage = match overage {
                None => Value::Null,
                Some((amount, per)) => json!({
                    "unitAmount": minor_units(amount, currency).map_err(|e| format!("Limits, line {}: {e}", i + 1))?,
                    "perUnits": per.replace(',', "").parse::<i64>().map_err(|_| format!(
                        "Limits, line {}: “per {per}” needs a number of units.",
                        i + 1
                    ))?,
                }),
            };
            let limit = if limit.eq_ignore_ascii_case("unlimited") {
                Value::Null
            } else {
                json!(limit.replace(',', "").parse::<i64>().map_err(|_| format!(
                    "Limits, line {}: “{limit}” is not a number (or “unlimited”).",
                    i + 1
                ))?)
            };
            let mut rule = json!({ "metric": metric, "limit": limit, "enforcement": enforcement });
            if !overage.is_null() {
                rule["overage"] = overage;
            }
            Ok(rule)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_as_people_write_them() {
        assert_eq!(minor_units("29", "usd"), Ok(2900));
        assert_eq!(minor_units("29.5", "usd"), Ok(2950));
        assert_eq!(minor_units("1,299.99", "eur"), Ok(129_999));
        assert_eq!(minor_units("500", "jpy"), Ok(500));
        assert!(minor_units("29.999", "usd").is_err());
        assert!(minor_units("12.5", "jpy").is_err());
        assert!(minor_units("abc", "usd").is_err());
        assert_eq!(major_units(2950, "usd"), "29.50");
    }

    #[test]
    fn limits_are_read_line_by_line() {
        let limits = parse_limits(
            "requests 1000\n\ntokens unlimited soft\nai_tokens 100,000 soft then 0.02 per 1,000\nsms 10 soft then 0.50",
            "usd",
        )
        .unwrap();
        assert_eq!(
            limits,
            vec![
                json!({"metric": "requests", "limit": 1000, "enforcement": "hard"}),
                json!({"metric": "tokens", "limit": null, "enforcement": "soft"}),
                json!({"metric": "ai_tokens", "limit": 100000, "enforcement": "soft",
                       "overage": {"unitAmount": 2, "perUnits": 1000}}),
                json!({"metric": "sms", "limit": 10, "enforcement": "soft",
                       "overage": {"unitAmount": 50, "perUnits": 1}}),
            ]
        );
        let error = parse_limits("requests lots", "usd").unwrap_err();
        assert!(error.contains("line 1"), "{error}");
        let error = parse_limits("sms 10 soft then 0.005", "usd").unwrap_err();
        assert!(error.contains("line 1"), "{error}");
        let error = parse_limits("sms 10 soft then 1 per many", "usd").unwrap_err();
        assert!(error.contains("per many"), "{error}");
    }
}
