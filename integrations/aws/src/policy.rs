//! A resource policy made valid at the target. A policy names principals and resources by ARN
//! and account id; restored as is into another account it would grant the *source* account
//! access, or name a secret that is not this one. The rules:
//! - the source secret's own ARN becomes the new secret's ARN (the suffix AWS adds differs);
//! - account ids listed in `--map-account SRC=DST` are rewritten wherever they stand as a whole
//!   12-digit number, all mappings at once (a swap swaps; `A=B` and `B=C` never send A to C);
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

/// `text` rewritten in one pass: each occurrence of `arn` (when not empty) becomes `new_arn`,
/// and each whole number (a run of digits, so an account id inside a longer number is left
/// alone) that `accounts` maps becomes its mapping. One pass, so mappings apply all at once:
/// `A=B` with `B=C` sends A to B (not C), a swap swaps, and the new ARN is never rewritten again.
fn rewrite_once(
    text: &str,
    arn: &str,
    new_arn: &str,
    accounts: &BTreeMap<String, String>,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if !arn.is_empty() && rest.starts_with(arn) {
            out.push_str(new_arn);
            rest = &rest[arn.len()..];
        } else if c.is_ascii_digit() {
            let run = rest.bytes().take_while(u8::is_ascii_digit).count();
            let number = &rest[..run];
            out.push_str(accounts.get(number).map_or(number, String::as_str));
            rest = &rest[run..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// `text` with every whole-number occurrence of `from` replaced by `to`.
fn replace_number(text: &str, from: &str, to: &str) -> String {
    rewrite_once(
        text,
        "",
        "",
        &BTreeMap::from([(from.to_string(), to.to_string())]),
    )
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
    let p = rewrite_once(policy, source_arn, target.arn, accounts);
    let source_account = account_of(source_arn).unwrap_or("");
    if !source_account.is_empty()
        && source_account != target.account
        && !accounts.contains_key(source_account)
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

/// An IAM role ARN (a managed external secret's rotation role) made valid in `target_account`:
/// as it is when it is in that account, rewritten through `accounts`, or why it cannot be.
pub fn map_role(
    role_arn: &str,
    target_account: &str,
    accounts: &BTreeMap<String, String>,
    face: Face,
) -> Result<String, String> {
    let mapped = rewrite_once(role_arn, "", "", accounts);
    match account_of(&mapped) {
        Some(a) if a != target_account => Err(format!(
            "rotation role {role_arn} is in account {a}, the target is account {target_account}: \
             not restored; restore again with {}",
            face.hint(Opt::MapAccount, &format!("{a}={target_account}"))
        )),
        _ => Ok(mapped),
    }
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
    fn a_rotation_role_is_mapped_into_the_target_account_or_refused() {
        let role = "arn:aws:iam::111111111111:role/sf-rotation";
        let none = BTreeMap::new();
        assert_eq!(
            map_role(role, "111111111111", &none, Face::Cli).unwrap(),
            role
        );
        let err = map_role(role, "222222222222", &none, Face::Cli).unwrap_err();
        assert!(
            err.contains("--map-account 111111111111=222222222222"),
            "{err}"
        );
        let map = BTreeMap::from([("111111111111".to_string(), "222222222222".to_string())]);
        assert_eq!(
            map_role(role, "222222222222", &map, Face::Cli).unwrap(),
            "arn:aws:iam::222222222222:role/sf-rotation"
        );
    }

    #[test]
    fn mappings_apply_all_at_once() {
        const A: &str = "111111111111";
        const B: &str = "222222222222";
        const C: &str = "333333333333";
        let policy = format!(
            r#"{{"Principal":{{"AWS":["arn:aws:iam::{A}:role/a","arn:aws:iam::{B}:role/b"]}},"Resource":"{SRC}"}}"#
        );
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        // A swap swaps, and the new secret's ARN (in account B) is not swapped back.
        let new = format!("arn:aws:secretsmanager:eu-west-1:{B}:secret:db-Q");
        let t = Target {
            arn: &new,
            account: B,
        };
        let p = rewrite(&policy, SRC, &t, &map(&[(A, B), (B, A)]), Face::Cli).unwrap();
        assert!(p.contains(&format!("arn:aws:iam::{B}:role/a")), "{p}");
        assert!(p.contains(&format!("arn:aws:iam::{A}:role/b")), "{p}");
        assert!(p.contains(&format!(r#""Resource":"{new}""#)), "{p}");
        // A chain: A's principals go to B, B's to C; nothing of A reaches C.
        let p = rewrite(&policy, SRC, &t, &map(&[(A, B), (B, C)]), Face::Cli).unwrap();
        assert!(p.contains(&format!("arn:aws:iam::{B}:role/a")), "{p}");
        assert!(p.contains(&format!("arn:aws:iam::{C}:role/b")), "{p}");
        assert!(p.contains(&new), "{p}");
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
