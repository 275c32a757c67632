//! The engine's own words: re-prompts and confirmations, in the languages it knows.
//! A flow may replace a question's re-prompt with its own `retry:` text.

/// A message the engine writes itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Msg {
    SkipHint,
    InvalidChoice,
    InvalidYesNo,
    InvalidNumber,
    InvalidInteger,
    NumberBetween,
    NumberAtLeast,
    NumberAtMost,
    TextTooShort,
    TextTooLong,
    TextEmpty,
    InvalidPattern,
    InvalidDate,
    InvalidPhone,
    InvalidEmail,
    InvalidPhoto,
    InvalidLocation,
    ConfirmLocation,
    LocationAgain,
    GaveUp,
    /// The flow ran away (a loop, too many texts) and was stopped.
    FlowBroken,
}

/// Languages with built-in messages; others fall back to English.
pub const KNOWN: &[&str] = &["en", "es"];

/// The message in `lang` (English when the language has no built-in messages). `{min}`, `{max}`
/// and `{value}` are filled by the caller.
pub fn text(lang: &str, msg: Msg) -> &'static str {
    use Msg::*;
    let es = lang == "es" || lang.starts_with("es-");
    match (msg, es) {
        (SkipHint, false) => "(Reply SKIP to skip.)",
        (SkipHint, true) => "(Responda SALTAR para omitir.)",
        (InvalidChoice, false) => "Sorry, please reply with the number of your choice.",
        (InvalidChoice, true) => "Perdón, responda con el número de su opción.",
        (InvalidYesNo, false) => "Sorry, please reply YES or NO.",
        (InvalidYesNo, true) => "Perdón, responda SÍ o NO.",
        (InvalidNumber, false) => "Sorry, please reply with a number.",
        (InvalidNumber, true) => "Perdón, responda con un número.",
        (InvalidInteger, false) => "Sorry, please reply with a whole number.",
        (InvalidInteger, true) => "Perdón, responda con un número entero.",
        (NumberBetween, false) => "Sorry, please reply with a number from {min} to {max}.",
        (NumberBetween, true) => "Perdón, responda con un número del {min} al {max}.",
        (NumberAtLeast, false) => "Sorry, please reply with a number of at least {min}.",
        (NumberAtLeast, true) => "Perdón, responda con un número mayor o igual a {min}.",
        (NumberAtMost, false) => "Sorry, please reply with a number no more than {max}.",
        (NumberAtMost, true) => "Perdón, responda con un número menor o igual a {max}.",
        (TextTooShort, false) => "Sorry, please tell us a little more (at least {min} characters).",
        (TextTooShort, true) => "Perdón, cuéntenos un poco más (al menos {min} caracteres).",
        (TextTooLong, false) => "Sorry, please keep it under {max} characters.",
        (TextTooLong, true) => "Perdón, use menos de {max} caracteres.",
        (TextEmpty, false) => "Sorry, we didn't get any text. Please try again.",
        (TextEmpty, true) => "Perdón, no recibimos texto. Intente de nuevo.",
        (InvalidPattern, false) => "Sorry, that doesn't look right. Please try again.",
        (InvalidPattern, true) => "Perdón, eso no parece correcto. Intente de nuevo.",
        (InvalidDate, false) => "Sorry, please reply with a date, like Dec 5 or tomorrow.",
        (InvalidDate, true) => "Perdón, responda con una fecha, como 5 de dic o mañana.",
        (InvalidPhone, false) => "Sorry, please reply with a phone number, like 502-555-0123.",
        (InvalidPhone, true) => "Perdón, responda con un número de teléfono, como 502-555-0123.",
        (InvalidEmail, false) => "Sorry, please reply with an email address.",
        (InvalidEmail, true) => "Perdón, responda con un correo electrónico.",
        (InvalidPhoto, false) => "Please send a photo as a picture message.",
        (InvalidPhoto, true) => "Por favor envíe una foto como mensaje con imagen.",
        (InvalidLocation, false) => {
            "Sorry, please reply with an address or the nearest cross streets."
        }
        (InvalidLocation, true) => "Perdón, responda con una dirección o las calles más cercanas.",
        (ConfirmLocation, false) => "You said: {value}. Is that right? Reply YES or NO.",
        (ConfirmLocation, true) => "Usted escribió: {value}. ¿Es correcto? Responda SÍ o NO.",
        (LocationAgain, false) => "OK, please send the address or nearest cross streets again.",
        (LocationAgain, true) => "Bien, envíe de nuevo la dirección o las calles más cercanas.",
        (GaveUp, false) => "Sorry, we couldn't understand. Text the keyword again to start over.",
        (GaveUp, true) => {
            "Perdón, no pudimos entender. Envíe la palabra clave para empezar de nuevo."
        }
        (FlowBroken, false) => "Sorry, something went wrong on our side. Please try again later.",
        (FlowBroken, true) => "Perdón, algo salió mal de nuestro lado. Intente más tarde.",
    }
}

/// "yes" / "no" as shown to a resident in `lang` (an answer echoed into a later text).
pub fn yes_no(lang: &str, yes: bool) -> &'static str {
    let es = lang == "es" || lang.starts_with("es-");
    match (yes, es) {
        (true, false) => "yes",
        (false, false) => "no",
        (true, true) => "sí",
        (false, true) => "no",
    }
}

/// A language's own name for itself, shown in language questions.
pub fn language_name(code: &str) -> &str {
    match code.split('-').next().unwrap_or(code) {
        "en" => "English",
        "es" => "Español",
        "fr" => "Français",
        "pt" => "Português",
        "vi" => "Tiếng Việt",
        "zh" => "中文",
        "ko" => "한국어",
        "ar" => "العربية",
        "so" => "Soomaali",
        "ht" => "Kreyòl",
        "ru" => "Русский",
        "tl" => "Tagalog",
        "de" => "Deutsch",
        "ne" => "नेपाली",
        "sw" => "Kiswahili",
        _ => code,
    }
}
