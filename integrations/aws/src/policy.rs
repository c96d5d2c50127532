//! A resource policy made valid at the target. A policy names principals and resources by ARN
//! and account id; restored as is into another account it would grant the *source* account
//! access, or name a secret that is not this one. The rules:
//! - the source secret's own ARN becomes the new secret's ARN (the suffix AWS adds differs);
//! - account ids listed in `--map-account SRC=DST` are rewritten wherever they stand as a whole
//!   12-digit number;
//! - a policy that still names the source account while the target is another account is not
//!   applied: the reason says which mapping would make it apply.
//!
//! The target account is known, never guessed: the caller identity at planning, the account in
//! the ARN CreateSecret returns when applying.

use std::collections::BTreeMap;

use secretsnap_core::{Face, Opt};

/// The account id of an ARN (`arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME`), if any.
pub fn account_of(arn: &str) -> Option<&str> {
    arn.split(':')
        .nth(4)
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
}

/// `text` with every whole-number occurrence of `from` replaced by `to` (a 12-digit account id
/// inside a longer number is left alone).
fn replace_number(text: &str, from: &str, to: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (at, _) in text.match_indices(from) {
        let before = at > 0 && bytes[at - 1].is_ascii_digit();
        let after = bytes.get(at + from.len()).is_some_and(u8::is_ascii_digit);
        if !before && !after {
            out.push_str(&text[last..at]);
            out.push_str(to);
            last = at + from.len();
        }
    }
    out.push_str(&text[last..]);
    out
}

fn names_number(text: &str, number: &str) -> bool {
    replace_number(text, number, "") != text
}

/// Where the policy goes.
pub struct Target<'a> {
    /// The new secret's ARN (a placeholder while planning).
    pub arn: &'a str,
    pub account: &'a str,
}

/// The policy rewritten for `target`, or why it is not applied.
pub fn rewrite(
    policy: &str,
    source_arn: &str,
    target: &Target<'_>,
    accounts: &BTreeMap<String, String>,
    face: Face,
) -> Result<String, String> {
    let mut p = if source_arn.is_empty() {
        policy.to_string()
    } else {
        policy.replace(source_arn, target.arn)
    };
    for (from, to) in accounts {
        p = replace_number(&p, from, to);
    }
    let source_account = account_of(source_arn).unwrap_or("");
    if !source_account.is_empty()
        && source_account != target.account
        && names_number(&p, source_account)
    {
        return Err(format!(
            "resource policy not restored: it names the source account {source_account} and the \
             target is account {}; restore again with {} (add one for every other account it names \
              that differs there), or edit it and apply it with `aws secretsmanager \
               put-resource-policy`",
            target.account,
            face.hint(
                Opt::MapAccount,
                &format!("{source_account}={}", target.account)
            )
        ));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:db-AbCdEf";
    const POLICY: &str = concat!(
        r#"{"Statement":[{"Effect":"Allow","#,
        r#""Principal":{"AWS":"arn:aws:iam::111111111111:role/app"},"#,
        r#""Action":"secretsmanager:GetSecretValue","#,
        r#""Resource":"arn:aws:secretsmanager:eu-west-1:111111111111:secret:db-AbCdEf"}]}"#
    );

    #[test]
    fn same_account_keeps_principals_and_points_at_the_new_secret() {
        let new = "arn:aws:secretsmanager:eu-central-1:111111111111:secret:db-XyZ123";
        let t = Target {
            arn: new,
            account: "111111111111",
        };
        let p = rewrite(POLICY, SRC, &t, &BTreeMap::new(), Face::Cli).unwrap();
        assert!(p.contains(new) && !p.contains(SRC));
        assert!(p.contains("arn:aws:iam::111111111111:role/app"));
    }

    #[test]
    fn another_account_needs_a_mapping_and_names_it() {
        let t = Target {
            arn: "arn:aws:secretsmanager:eu-west-1:222222222222:secret:db-Q",
            account: "222222222222",
        };
        let err = rewrite(POLICY, SRC, &t, &BTreeMap::new(), Face::Cli).unwrap_err();
        assert!(
            err.contains("--map-account 111111111111=222222222222"),
            "{err}"
        );
        let err = rewrite(POLICY, SRC, &t, &BTreeMap::new(), Face::Plugin).unwrap_err();
        assert!(
            err.contains("map_account=111111111111=222222222222"),
            "{err}"
        );
        let map = BTreeMap::from([("111111111111".to_string(), "222222222222".to_string())]);
        let p = rewrite(POLICY, SRC, &t, &map, Face::Cli).unwrap();
        assert!(p.contains("arn:aws:iam::222222222222:role/app"), "{p}");
        assert!(!p.contains("111111111111"), "{p}");
    }

    #[test]
    fn only_whole_account_numbers_are_rewritten() {
        assert_eq!(
            replace_number("a 1111111111119 b 111111111111 c", "111111111111", "2"),
            "a 1111111111119 b 2 c"
        );
        assert_eq!(replace_number("111111111111", "111111111111", "2"), "2");
        assert!(!names_number("x01111111111110", "111111111111"));
    }

    #[test]
    fn a_policy_without_the_source_account_applies_anywhere() {
        let p = concat!(
            r#"{"Statement":[{"Effect":"Deny","Principal":"*","#,
            r#""Action":"secretsmanager:DeleteSecret","Resource":"*"}]}"#
        );
        let t = Target {
            arn: "x",
            account: "222222222222",
        };
        assert_eq!(rewrite(p, SRC, &t, &BTreeMap::new(), Face::Cli).unwrap(), p);
        assert_eq!(account_of(SRC), Some("111111111111"));
        assert_eq!(account_of("not-an-arn"), None);
    }
}
