//! The hosted pages a buyer sees: checkout (what is bought, with names, pictures and prices,
//! and a card form that answers Stripe's test cards as Stripe does) and the customer portal.
//! Plain server-rendered HTML with one inline stylesheet; every value from the store is
//! escaped.

use serde_json::Value;

/// `text` safe inside HTML text and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Currencies without a minor unit, as Stripe lists them.
const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];

/// An amount in the currency's minor unit as people read it: `$20.00`, `€9.50`, `¥500`,
/// `12.00 CHF`.
pub fn money(amount: i64, currency: &str) -> String {
    let currency = currency.to_ascii_lowercase();
    let sign = if amount < 0 { "-" } else { "" };
    let amount = amount.unsigned_abs();
    let number = if ZERO_DECIMAL.contains(&currency.as_str()) {
        grouped(amount)
    } else {
        format!("{}.{:02}", grouped(amount / 100), amount % 100)
    };
    match currency.as_str() {
        "usd" => format!("{sign}${number}"),
        "eur" => format!("{sign}€{number}"),
        "gbp" => format!("{sign}£{number}"),
        "jpy" => format!("{sign}¥{number}"),
        "inr" => format!("{sign}₹{number}"),
        other => format!("{sign}{number} {}", other.to_uppercase()),
    }
}

/// `1234567` → `1,234,567`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `/ month`, `/ 3 months`, or nothing for a one-time price.
pub fn per_interval(price: &Value) -> String {
    let Some(interval) = price["recurring"]["interval"].as_str() else {
        return String::new();
    };
    match price["recurring"]["interval_count"].as_i64().unwrap_or(1) {
        1 => format!(" / {interval}"),
        n => format!(" / {n} {interval}s"),
    }
}

/// What a card number does, as Stripe's test cards do in test mode.
#[derive(Debug, PartialEq, Eq)]
pub enum Card {
    /// The payment goes through.
    Succeeds,
    /// Refused: the code Stripe reports and the message the buyer reads.
    Declined(&'static str, &'static str),
}

/// Stripe's test card numbers that succeed (a selection of brands).
const SUCCEEDING: &[&str] = &[
    "4242424242424242",
    "4000056655665556",
    "5555555555554444",
    "2223003122003222",
    "5200828282828210",
    "378282246310005",
    "371449635398431",
    "6011111111111117",
    "3056930009020004",
    "36227206271667",
    "3566002020360505",
    "6200000000000005",
];

/// Stripe's test cards that are declined, with the reason each reports.
const DECLINING: &[(&str, &str, &str)] = &[
    (
        "4000000000000002",
        "card_declined",
        "Your card was declined.",
    ),
    (
        "4000000000009995",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    ("4000000000009987", "lost_card", "Your card was declined."),
    ("4000000000009979", "stolen_card", "Your card was declined."),
    ("4000000000000069", "expired_card", "Your card has expired."),
    (
        "4000000000000127",
        "incorrect_cvc",
        "Your card's security code is incorrect.",
    ),
    (
        "4000000000000119",
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    (
        "4242424242424241",
        "incorrect_number",
        "Your card number is incorrect.",
    ),
];

/// Luhn's checksum, which every real card number passes.
fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                let d = d * 2;
                if d > 9 { d - 9 } else { d }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The buyer's card details, as typed, checked as Stripe's checkout checks them: the number
/// (spaces allowed), an expiry `MM / YY` not in the past (`today` is `(year, month)`), and a
/// CVC of 3 or 4 digits.
pub fn card(number: &str, expiry: &str, cvc: &str, today: (i32, u32)) -> Card {
    let digits: String = number.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.is_empty() {
        return Card::Declined("incomplete_number", "Your card number is incomplete.");
    }
    if !digits.chars().all(|c| c.is_ascii_digit()) || !(13..=19).contains(&digits.len()) {
        return Card::Declined("invalid_number", "Your card number is invalid.");
    }
    if let Some((_, code, message)) = DECLINING.iter().find(|(n, _, _)| *n == digits) {
        return Card::Declined(code, message);
    }
    if !luhn(&digits) {
        return Card::Declined("incorrect_number", "Your card number is incorrect.");
    }
    let expiry: String = expiry.chars().filter(|c| c.is_ascii_digit()).collect();
    let (month, year) = match expiry.len() {
        4 => (
            expiry[..2].parse::<u32>(),
            expiry[2..].parse::<i32>().map(|y| 2000 + y),
        ),
        6 => (expiry[..2].parse::<u32>(), expiry[2..].parse::<i32>()),
        _ => {
            return Card::Declined(
                "incomplete_expiry",
                "Your card's expiration date is incomplete.",
            );
        }
    };
    let (Ok(month), Ok(year)) = (month, year) else {
        return Card::Declined("invalid_expiry", "Your card's expiration date is invalid.");
    };
    if !(1..=12).contains(&month) {
        return Card::Declined(
            "invalid_expiry_month",
            "Your card's expiration month is invalid.",
        );
    }
    if (year, month) < today {
        return Card::Declined(
            "invalid_expiry_year_past",
            "Your card's expiration year is in the past.",
        );
    }
    let cvc = cvc.trim();
    if !(3..=4).contains(&cvc.len()) || !cvc.chars().all(|c| c.is_ascii_digit()) {
        return Card::Declined("incomplete_cvc", "Your card's security code is incomplete.");
    }
    if SUCCEEDING.contains(&digits.as_str()) {
        Card::Succeeds
    } else {
        Card::Declined(
            "card_declined",
            "Your card was declined. Your request was in test mode, but used a non test card. For a list of valid test cards, visit: https://stripe.com/docs/testing.",
        )
    }
}

/// One line of a checkout: the price, how many, and the product it sells (when known).
pub struct Line<'a> {
    pub price: &'a Value,
    pub quantity: i64,
    pub product: Option<&'a Value>,
}

/// What the buyer typed, shown again with the error when the card was refused.
#[derive(Default)]
pub struct Typed<'a> {
    pub card: &'a str,
    pub expiry: &'a str,
    pub email: &'a str,
    pub error: Option<&'a str>,
    /// The buyer's email when the session or its customer already has one.
    pub known_email: Option<&'a str>,
}

/// The hosted checkout page of `session`.
pub fn checkout(session: &Value, lines: &[Line<'_>], typed: &Typed<'_>) -> String {
    let id = escape(session["id"].as_str().unwrap_or(""));
    let currency = session["currency"].as_str().unwrap_or("usd");
    let subscription = session["mode"] == "subscription";
    let interval = lines
        .first()
        .map(|l| per_interval(l.price))
        .unwrap_or_default();
    let total = session["amount_total"].as_i64().unwrap_or(0);
    let items: String = lines
        .iter()
        .map(|line| {
            let name = line
                .product
                .and_then(|p| p["name"].as_str())
                .or_else(|| line.price["nickname"].as_str())
                .unwrap_or("Item");
            let image = line
                .product
                .and_then(|p| p["images"][0].as_str())
                .map_or_else(
                    || "<span class=noimg></span>".to_string(),
                    |url| format!("<img src=\"{}\" alt=\"\">", escape(url)),
                );
            let unit = line.price["unit_amount"].as_i64().unwrap_or(0);
            format!(
                "<li>{image}<span class=name>{}<span class=qty>Qty {} × {}{}</span></span><span class=amount>{}</span></li>",
                escape(name),
                line.quantity,
                money(unit, currency),
                per_interval(line.price),
                money(unit * line.quantity, currency),
            )
        })
        .collect();
    // Stripe asks for an email only when the session names neither one nor a customer.
    let email = match (typed.known_email, session["customer"].is_string()) {
        (Some(email), _) => format!(
            "<p class=muted>Paying as <b id=email>{}</b></p>",
            escape(email)
        ),
        (None, true) => String::new(),
        (None, false) => format!(
            "<label>Email<input type=email name=email id=email autocomplete=email required value=\"{}\"></label>",
            escape(typed.email)
        ),
    };
    let error = typed.error.map_or_else(String::new, |e| {
        format!("<p class=error id=card-error role=alert>{}</p>", escape(e))
    });
    let heading = if subscription { "Subscribe" } else { "Pay" };
    let total_text = format!("{}{}", money(total, currency), interval);
    format!(
        "<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content=\"width=device-width, initial-scale=1\">\
         <title>Checkout · Stripe emulator</title><style>{STYLE}</style><main>\
         <section><h1>{heading} <span class=badge>Test mode</span></h1><p class=total id=total>{total_text}</p><ul class=lines>{items}</ul></section>\
         <section><form class=card method=post action=\"/checkout/{id}/complete\">{email}{error}\
         <label>Card number<input name=card id=card inputmode=numeric autocomplete=cc-number placeholder=\"1234 1234 1234 1234\" required value=\"{}\"></label>\
         <div class=row><label>Expiry<input name=exp id=exp autocomplete=cc-exp placeholder=\"MM / YY\" required value=\"{}\"></label>\
         <label>CVC<input name=cvc id=cvc inputmode=numeric autocomplete=cc-csc placeholder=\"CVC\" required></label></div>\
         <button id=pay type=submit>{heading} {total_text}</button>\
         <p class=hint>Test mode: 4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined; any future expiry, any CVC.</p></form>\
         <form method=post action=\"/checkout/{id}/cancel\"><button class=secondary id=cancel type=submit>Cancel and return</button></form></section></main>",
        escape(typed.card),
        escape(typed.expiry),
    )
}

/// `(year, month)` of a Unix time, in UTC.
pub fn year_month(unix: i64) -> (i32, u32) {
    let (year, month, _) = civil(unix);
    (year, month)
}

/// `(year, month, day)` of a Unix time, in UTC (Howard Hinnant's days-to-civil).
fn civil(unix: i64) -> (i32, u32, u32) {
    let z = unix.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year as i32, month as u32, day as u32)
}

/// `Dec 30, 2026` for a Unix time, in UTC.
pub fn date(unix: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (year, month, day) = civil(unix);
    format!("{} {day}, {year}", MONTHS[(month as usize - 1) % 12])
}

/// The shared look of the emulator's pages.
pub const STYLE: &str = "
*{box-sizing:border-box}body{margin:0;font:15px/1.45 -apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Arial,sans-serif;color:#1a1f36;background:#f6f9fc}
main{display:flex;flex-wrap:wrap;gap:40px;max-width:920px;margin:0 auto;padding:48px 24px}
section{flex:1 1 360px}h1{font-size:15px;color:#697386;font-weight:500;margin:0 0 4px}
.badge{display:inline-block;font-size:11px;font-weight:700;text-transform:uppercase;background:#ffde92;color:#a04100;border-radius:4px;padding:1px 6px;margin-left:6px}
.total{font-size:34px;font-weight:650;margin:0 0 24px}.muted{color:#697386}
ul.lines{list-style:none;margin:0;padding:0}ul.lines li{display:flex;gap:14px;align-items:center;padding:12px 0;border-bottom:1px solid #e3e8ee}
ul.lines img,ul.lines .noimg{width:48px;height:48px;object-fit:cover;border-radius:6px;background:#e3e8ee;flex:none}
ul.lines .name{flex:1;font-weight:600}ul.lines .qty{display:block;font-weight:400;font-size:13px;color:#697386}
form.card{background:#fff;border-radius:10px;box-shadow:0 4px 18px rgba(50,50,93,.12);padding:24px}
label{display:block;font-size:13px;color:#424770;margin:0 0 14px}
input{display:block;width:100%;margin-top:4px;padding:10px 12px;font-size:15px;border:1px solid #cfd7df;border-radius:6px}
.row{display:flex;gap:12px}.row label{flex:1}
.error{color:#df1b41;background:#fff0f3;border-radius:6px;padding:8px 12px;margin:0 0 14px}
.notice{color:#0e6245;background:#e6f7ef;border-radius:6px;padding:8px 12px;margin:0 0 14px}
button{width:100%;padding:12px;font-size:16px;font-weight:600;color:#fff;background:#635bff;border:0;border-radius:6px;cursor:pointer}
button.secondary{background:none;color:#635bff;font-weight:500;font-size:14px;margin-top:8px}
table{width:100%;border-collapse:collapse}td{padding:10px 0;border-bottom:1px solid #e3e8ee}
.hint{font-size:12px;color:#697386;margin-top:12px}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_as_people_write_them() {
        assert_eq!(date(0), "Jan 1, 1970");
        assert_eq!(date(1_798_675_200), "Dec 31, 2026");
        assert_eq!(date(1_709_164_800), "Feb 29, 2024");
    }

    #[test]
    fn money_reads_as_people_write_it() {
        assert_eq!(money(2000, "usd"), "$20.00");
        assert_eq!(money(123_456_789, "eur"), "€1,234,567.89");
        assert_eq!(money(500, "jpy"), "¥500");
        assert_eq!(money(1250, "chf"), "12.50 CHF");
        assert_eq!(money(-5, "usd"), "-$0.05");
    }

    #[test]
    fn test_cards_answer_as_stripe_does() {
        let today = (2026, 11);
        assert_eq!(
            card("4242 4242 4242 4242", "12 / 34", "123", today),
            Card::Succeeds
        );
        assert_eq!(
            card("5555555555554444", "1134", "123", today),
            Card::Succeeds
        );
        assert_eq!(
            card("4000 0000 0000 0002", "12/34", "123", today),
            Card::Declined("card_declined", "Your card was declined.")
        );
        assert!(matches!(
            card("4000000000009995", "12/34", "123", today),
            Card::Declined("insufficient_funds", _)
        ));
        assert!(matches!(
            card("", "12/34", "123", today),
            Card::Declined("incomplete_number", _)
        ));
        assert!(matches!(
            card("4242 4242 4242 4243", "12/34", "123", today),
            Card::Declined("incorrect_number", _)
        ));
        assert!(matches!(
            card("4242424242424242", "10/26", "123", today),
            Card::Declined("invalid_expiry_year_past", _)
        ));
        assert!(matches!(
            card("4242424242424242", "13/30", "123", today),
            Card::Declined("invalid_expiry_month", _)
        ));
        assert!(matches!(
            card("4242424242424242", "12/34", "1", today),
            Card::Declined("incomplete_cvc", _)
        ));
        // A real-looking number that is not a test card, as Stripe says in test mode.
        assert!(matches!(
            card("4000 1234 5678 9017", "12/34", "123", today),
            Card::Declined("card_declined", m) if m.contains("non test card")
        ));
        assert_eq!(year_month(1_795_996_800), (2026, 11));
        assert_eq!(year_month(951_782_400), (2000, 2));
        assert!(escape("<b a=\"x\">&'").eq("&lt;b a=&quot;x&quot;&gt;&amp;&#39;"));
    }
}
