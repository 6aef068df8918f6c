//! The keyword filter: questions containing a listed word are held for review.
//!
//! Arabic is matched after normalising the ways the same word is commonly typed (diacritics, tatweel, alef
//! and yaa forms, taa marbuta), and as a substring, because Arabic attaches prefixes (ال، و، ب) to words.
//! English entries match whole words or phrases.

use std::path::Path;

/// The built-in list (Arabic and English), used when no `--keyword-file` is given.
pub const DEFAULT_KEYWORDS: &str = include_str!("../../data/keywords.txt");

#[derive(Debug, Clone, Default)]
pub struct KeywordFilter {
    /// Normalised entry and the entry as written (reported to moderators).
    words: Vec<(String, String)>,
}

impl KeywordFilter {
    pub fn from_list(list: &str) -> Self {
        let words = list
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| (normalize(l), l.to_string()))
            .filter(|(n, _)| !n.trim().is_empty())
            .collect();
        KeywordFilter { words }
    }

    pub fn from_file(path: &Path) -> std::io::Result<Self> {
        Ok(Self::from_list(&std::fs::read_to_string(path)?))
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The entries that `text` contains (as written in the list).
    pub fn matches(&self, text: &str) -> Vec<String> {
        if self.words.is_empty() {
            return vec![];
        }
        let hay = format!(" {} ", normalize(text));
        self.words
            .iter()
            .filter(|(needle, _)| {
                if needle.is_ascii() {
                    // From the start of a word: "idiot" holds "idiots" too, but "kill" must not fire on "skills".
                    hay.contains(&format!(" {}", needle.trim()))
                        || (needle.starts_with('.') && hay.contains(needle.as_str()))
                } else {
                    hay.contains(needle.trim())
                }
            })
            .map(|(_, original)| original.clone())
            .collect()
    }
}

/// Lower-case, fold Arabic letter variants, drop diacritics and tatweel, and turn punctuation into spaces
/// (except '.', kept so that entries like ".com" work).
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last_space = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = match c {
            'أ' | 'إ' | 'آ' | 'ٱ' => 'ا',
            'ى' => 'ي',
            'ة' => 'ه',
            'ؤ' => 'و',
            'ئ' => 'ي',
            '\u{0640}' | '\u{064B}'..='\u{065F}' | '\u{0670}' => continue,
            c if c.is_alphanumeric() || c == '.' => c,
            _ => ' ',
        };
        if c == ' ' {
            if last_space {
                continue;
            }
            last_space = true;
        } else {
            last_space = false;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_matches_from_the_start_of_words() {
        let f = KeywordFilter::from_list("kill\nshut up");
        assert_eq!(f.matches("I will KILL it"), vec!["kill"]);
        assert!(f.matches("new skills program").is_empty());
        assert_eq!(f.matches("killing"), vec!["kill"]);
        assert_eq!(f.matches("killing"), vec!["kill"]);
        assert_eq!(f.matches("please, shut   up!"), vec!["shut up"]);
    }

    #[test]
    fn arabic_matches_through_prefixes_and_spelling_variants() {
        let f = KeywordFilter::from_list("رشوه\nاحمق");
        assert_eq!(f.matches("هل هناك رشوة في الإسكان؟"), vec!["رشوه"]);
        assert_eq!(f.matches("والأحمق"), vec!["احمق"]);
        assert!(f.matches("متى يفتح التسجيل؟").is_empty());
    }

    #[test]
    fn default_list_loads_and_catches_links() {
        let f = KeywordFilter::from_list(DEFAULT_KEYWORDS);
        assert!(f.len() > 20);
        assert!(!f.matches("visit https://spam.example now").is_empty());
    }
}
