use super::*;

#[test]
fn stripe_decline_codes_become_the_customer_message_they_mean() {
    // https://docs.stripe.com/declines/codes and https://docs.stripe.com/testing#declined-payments
    let cases = [
        (Some("card_declined"), Some("generic_decline"), DeclineReason::Declined),
        (Some("card_declined"), Some("insufficient_funds"), DeclineReason::InsufficientFunds),
        (Some("expired_card"), None, DeclineReason::ExpiredCard),
        (Some("incorrect_cvc"), None, DeclineReason::IncorrectCvc),
        (Some("card_declined"), Some("incorrect_cvc"), DeclineReason::IncorrectCvc),
        (Some("payment_intent_authentication_failure"), None, DeclineReason::AuthenticationFailed),
        (Some("card_declined"), None, DeclineReason::Declined),
        (None, None, DeclineReason::Declined),
    ];
    for (code, decline_code, expected) in cases {
        assert_eq!(decline_reason(code, decline_code), expected, "{code:?} / {decline_code:?}");
    }
}

#[test]
fn the_merchants_metadata_goes_to_stripe_within_its_limits() {
    let long_key = "k".repeat(41);
    let metadata = serde_json::json!({
        "invoiceId": "INV-1",
        "total": 12.5,
        "tags": ["a", "b"],
        long_key: "dropped: key over 40 characters",
        "note": "x".repeat(501),
        "sessionId": "cannot override ours",
        "a[b]": "brackets would nest",
    });
    let params = merchant_metadata(&metadata.to_string());
    assert_eq!(
        params,
        vec![
            ("metadata[invoiceId]".to_owned(), "INV-1".to_owned()),
            ("metadata[total]".to_owned(), "12.5".to_owned()),
            ("metadata[tags]".to_owned(), r#"["a","b"]"#.to_owned()),
        ]
    );
    let many: serde_json::Map<String, serde_json::Value> =
        (0..60).map(|i| (format!("key{i:02}"), serde_json::json!("v"))).collect();
    assert_eq!(merchant_metadata(&serde_json::Value::Object(many).to_string()).len(), 47, "50 keys in all at Stripe");
    assert!(merchant_metadata("{}").is_empty() && merchant_metadata("not json").is_empty());
}

#[test]
fn only_a_stripe_token_is_taken_from_the_form() {
    // The page posts `tok_…`; nothing that could be a card number or another object id.
    assert!(crate::checkout::pay::is_stripe_token("tok_1NXWPnCo6bFb1KQto6C8OWvE"));
    for bad in ["", "tok_", "4242424242424242", "pm_card_visa", "tok_a b", "tok_<script>"] {
        assert!(!crate::checkout::pay::is_stripe_token(bad), "{bad}");
    }
}
