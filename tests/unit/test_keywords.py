"""The keyword router: tables of texts and what they must classify as."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from bot.domain.keywords import (
    NO_MATCH,
    KeywordFileError,
    KeywordKind,
    KeywordMatch,
    Vocabulary,
    classify,
    default_vocabulary,
    load_vocabulary,
    normalise,
)

OPT_OUT = KeywordKind.OPT_OUT
OPT_IN = KeywordKind.OPT_IN
JOIN = KeywordKind.JOIN
CONFIRM = KeywordKind.CONFIRM
HELP = KeywordKind.HELP


def cases(table: Mapping[str, tuple[object, ...]]) -> list[object]:
    """Parametrize rows keyed by a readable id."""
    return [pytest.param(*row, id=case_id) for case_id, row in table.items()]


# text -> (kind, canonical keyword, language): whole-message keywords, alone or with filler.
KEYWORDS: dict[str, tuple[str, KeywordKind, str | None, str | None]] = {
    # English opt-out words and the ways people type them
    "stop": ("stop", OPT_OUT, "STOP", "en"),
    "stop-padded-bang": (" Stop! ", OPT_OUT, "STOP", "en"),
    "stop-emoji": ("STOP 🛑", OPT_OUT, "STOP", "en"),
    "stop-full-width": ("ＳＴＯＰ", OPT_OUT, "STOP", "en"),
    "stop-fancy-font": ("𝐒𝐓𝐎𝐏", OPT_OUT, "STOP", "en"),
    "stop-dotted": ("S.T.O.P", OPT_OUT, "STOP", "en"),
    "stop-spaced": ("s t o p", OPT_OUT, "STOP", "en"),
    "stop-zero-width": ("S\u200bTOP", OPT_OUT, "STOP", "en"),
    "stop-period": ("Stop.", OPT_OUT, "STOP", "en"),
    "stop-twice": ("STOP STOP", OPT_OUT, "STOP", "en"),
    "stop-many-angry": ("stop stop stop 😡😡", OPT_OUT, "STOP", "en"),
    "stopall": ("STOPALL", OPT_OUT, "STOPALL", "en"),
    "stop-all": ("Stop all", OPT_OUT, "STOP ALL", "en"),
    "unsubscribe": ("Unsubscribe.", OPT_OUT, "UNSUBSCRIBE", "en"),
    "unsub": ("unsub", OPT_OUT, "UNSUB", "en"),
    "cancel": ("CANCEL", OPT_OUT, "CANCEL", "en"),
    "end": ("end", OPT_OUT, "END", "en"),
    "quit": ("Quit!", OPT_OUT, "QUIT", "en"),
    "revoke": ("revoke", OPT_OUT, "REVOKE", "en"),
    "optout": ("optout", OPT_OUT, "OPTOUT", "en"),
    "opt-out-spaced": ("opt out", OPT_OUT, "OPT OUT", "en"),
    "opt-out-hyphen": ("OPT-OUT", OPT_OUT, "OPT OUT", "en"),
    "stop-please": ("stop please", OPT_OUT, "STOP", "en"),
    "please-stop": ("Please stop", OPT_OUT, "STOP", "en"),
    "stop-it": ("stop it", OPT_OUT, "STOP", "en"),
    "pls-stop": ("pls stop", OPT_OUT, "STOP", "en"),
    "stop-now": ("STOP NOW!!", OPT_OUT, "STOP", "en"),
    "stop-thank-you": ("Stop, thank you", OPT_OUT, "STOP", "en"),
    "just-stop-already": ("just stop already", OPT_OUT, "STOP", "en"),
    "please-stop-texting-me": ("please stop texting me", OPT_OUT, "STOP", "en"),
    "stop-sending-me-messages": ("stop sending me messages", OPT_OUT, "STOP", "en"),
    "stop-all-texts": ("stop all texts please", OPT_OUT, "STOP", "en"),
    "unsubscribe-me": ("unsubscribe me", OPT_OUT, "UNSUBSCRIBE", "en"),
    "unsubscribe-from-texts": ("Unsubscribe me from your texts", OPT_OUT, "UNSUBSCRIBE", "en"),
    # a keyword standing as a sentence of its own
    "stop-who-is-this": ("Stop. Who is this?", OPT_OUT, "STOP", "en"),
    "who-is-this-stop": ("Who is this?? STOP", OPT_OUT, "STOP", "en"),
    "not-interested-stop": ("Not interested, stop texting me", OPT_OUT, "STOP", "en"),
    "stop-never-signed-up": ("STOP!!! I never signed up for this", OPT_OUT, "STOP", "en"),
    "ok-stop": ("ok stop", OPT_OUT, "STOP", "en"),
    "stop-full-width-stop": ("Ｓｔｏｐ。", OPT_OUT, "STOP", "en"),
    # Spanish
    "es-parar": ("PARAR", OPT_OUT, "PARAR", "es"),
    "es-alto": ("Alto", OPT_OUT, "ALTO", "es"),
    "es-detener": ("detener", OPT_OUT, "DETENER", "es"),
    "es-baja": ("BAJA", OPT_OUT, "BAJA", "es"),
    "es-baja-por-favor": ("baja por favor", OPT_OUT, "BAJA", "es"),
    "es-dar-de-baja": ("Dar de baja", OPT_OUT, "DAR DE BAJA", "es"),
    "es-dar-de-baja-ya": ("dar de baja ya!", OPT_OUT, "DAR DE BAJA", "es"),
    "es-cancelar": ("Cancelar", OPT_OUT, "CANCELAR", "es"),
    "es-basta-ya": ("¡Basta ya!", OPT_OUT, "BASTA", "es"),
    "es-desuscribirme": ("desuscribirme", OPT_OUT, "DESUSCRIBIRME", "es"),
    "es-fin": ("fin", OPT_OUT, "FIN", "es"),  # FIN is French too; Spanish is listed first
    # French
    "fr-arret-accent": ("Arrêt", OPT_OUT, "ARRÊT", "fr"),
    "fr-arret-plain": ("ARRET", OPT_OUT, "ARRÊT", "fr"),
    "fr-arret-svp": ("arrêt svp", OPT_OUT, "ARRÊT", "fr"),
    "fr-stop-merci": ("STOP merci", OPT_OUT, "STOP", "en"),
    "fr-desabonner-accent": ("désabonner", OPT_OUT, "DÉSABONNER", "fr"),
    "fr-desabonner-plain": ("DESABONNER", OPT_OUT, "DÉSABONNER", "fr"),
    "fr-desinscrire": ("Désinscrire s'il vous plaît", OPT_OUT, "DÉSINSCRIRE", "fr"),
    "fr-annuler": ("annuler", OPT_OUT, "ANNULER", "fr"),
    # German
    "de-stopp": ("STOPP", OPT_OUT, "STOPP", "de"),
    "de-stopp-bitte": ("Stopp bitte", OPT_OUT, "STOPP", "de"),
    "de-abmelden": ("abmelden", OPT_OUT, "ABMELDEN", "de"),
    "de-abbestellen": ("ABBESTELLEN", OPT_OUT, "ABBESTELLEN", "de"),
    "de-kuendigen-umlaut": ("Kündigen", OPT_OUT, "KÜNDIGEN", "de"),
    "de-kuendigen-ascii": ("KUENDIGEN", OPT_OUT, "KUENDIGEN", "de"),
    "de-ende": ("Ende", OPT_OUT, "ENDE", "de"),
    "de-hoer-auf": ("Hör auf!", OPT_OUT, "HÖR AUF", "de"),
    "de-austragen": ("austragen bitte", OPT_OUT, "AUSTRAGEN", "de"),
    # Dutch
    "nl-afmelden": ("AFMELDEN", OPT_OUT, "AFMELDEN", "nl"),
    "nl-afmelden-graag": ("afmelden graag", OPT_OUT, "AFMELDEN", "nl"),
    "nl-uitschrijven": ("Uitschrijven", OPT_OUT, "UITSCHRIJVEN", "nl"),
    "nl-opzeggen": ("opzeggen aub", OPT_OUT, "OPZEGGEN", "nl"),
    "nl-stoppen": ("stoppen", OPT_OUT, "STOPPEN", "nl"),
    "nl-einde": ("Einde", OPT_OUT, "EINDE", "nl"),
    "nl-stop-maar": ("Stop maar", OPT_OUT, "STOP", "en"),
    # help
    "help": ("help", HELP, "HELP", "en"),
    "help-bang": ("HELP!", HELP, "HELP", "en"),
    "help-question": ("help?", HELP, "HELP", "en"),
    "help-me": ("Help me", HELP, "HELP", "en"),
    "info": ("info", HELP, "INFO", "en"),
    "info-question": ("INFO?", HELP, "INFO", "en"),
    "es-ayuda": ("ayuda por favor", HELP, "AYUDA", "es"),
    "es-informacion": ("Información", HELP, "INFORMACIÓN", "es"),
    "fr-aide": ("Aide svp", HELP, "AIDE", "fr"),
    "de-hilfe": ("Hilfe bitte", HELP, "HILFE", "de"),
    "nl-hulp": ("hulp", HELP, "HULP", "nl"),
    # confirming a double opt-in
    "y": ("Y", CONFIRM, "Y", "en"),
    "yes-bang": ("YES!", CONFIRM, "YES", "en"),
    "yes-please": ("yes please", CONFIRM, "YES", "en"),
    "yep": ("yep", CONFIRM, "YEP", "en"),
    "yes-spelled": ("Y E S", CONFIRM, "YES", "en"),
    "es-si-accent": ("Sí", CONFIRM, "SÍ", "es"),
    "es-si-plain": ("si por favor", CONFIRM, "SÍ", "es"),
    "fr-oui": ("Oui merci", CONFIRM, "OUI", "fr"),
    "de-ja": ("ja bitte", CONFIRM, "JA", "de"),
    # re-subscribing
    "start": ("START", OPT_IN, "START", "en"),
    "unstop": ("Unstop", OPT_IN, "UNSTOP", "en"),  # STOP inside UNSTOP is not an opt-out
    "unstop-please": ("unstop please", OPT_IN, "UNSTOP", "en"),
    "fr-demarrer": ("Démarrer", OPT_IN, "DÉMARRER", "fr"),
    # joining
    "join": ("JOIN", JOIN, "JOIN", "en"),
    "join-bang": ("join!", JOIN, "JOIN", "en"),
    "subscribe-me": ("Subscribe me", JOIN, "SUBSCRIBE", "en"),
    "es-suscribirme": ("suscribirme", JOIN, "SUSCRIBIRME", "es"),
    "fr-inscription": ("Inscription", JOIN, "INSCRIPTION", "fr"),
    "de-anmelden": ("anmelden", JOIN, "ANMELDEN", "de"),
    "nl-aanmelden": ("Aanmelden", JOIN, "AANMELDEN", "nl"),
}


@pytest.mark.parametrize(("text", "kind", "keyword", "language"), cases(KEYWORDS))
def test_keyword(text: str, kind: KeywordKind, keyword: str, language: str) -> None:
    assert classify(text) == KeywordMatch(kind, keyword, language)


# text -> language: opt-out phrases, which match as a phrase (keyword None).
OPT_OUT_PHRASES: dict[str, tuple[str, str]] = {
    "take-me-off": ("take me off your list", "en"),
    "remove-me-from-list": ("remove me from this list", "en"),
    "remove-my-number": ("Can you please remove my number from your mailing list?", "en"),
    "please-remove-me": ("please remove me", "en"),
    "want-to-unsubscribe": ("I want to unsubscribe", "en"),
    "how-to-opt-out": ("how do I opt out?", "en"),
    "id-like-to-opt-out": ("I’d like to opt out", "en"),
    "opt-me-out": ("opt me out of this", "en"),
    "no-more-texts": ("no more texts please", "en"),
    "dont-text-me": ("don't text me again", "en"),
    "never-message-me": ("Never message this number again", "en"),
    "leave-me-alone": ("leave me alone!", "en"),
    "lose-my-number": ("lose my number", "en"),
    "wrong-number": ("Wrong number", "en"),
    "stop-sending-promos": ("Stop sending me these promos", "en"),
    "asked-you-to-stop": ("I already asked you to stop sending them", "en"),
    "stop-getting-texts": ("how do I stop getting these texts", "en"),
    "stop-the-promos": ("stop the promos", "en"),
    "not-interested-no-comma": ("not interested stop texting me", "en"),
    "es-no-me-envies": ("Por favor no me envíes más mensajes", "es"),
    "es-no-me-manden": ("no me manden mas mensajes", "es"),
    "es-no-no": ("No, no me envíes más", "es"),
    "es-dejen-de": ("Dejen de enviarme mensajes", "es"),
    "es-deja-de-escribirme": ("deja de escribirme", "es"),
    "es-no-me-escriban": ("No me escriban, por favor", "es"),
    "es-darme-de-baja": ("quiero darme de baja", "es"),
    "es-saquenme": ("sáquenme de su lista", "es"),
    "es-no-quiero": ("no quiero recibir más mensajes", "es"),
    "es-no-mas": ("¡No más mensajes, por favor!", "es"),
    "es-desuscribirme": ("Quiero desuscribirme", "es"),
    "fr-ne-plus": ("ne plus m'envoyer de sms", "fr"),
    "fr-ne-menvoyez-plus": ("Ne m’envoyez plus de messages", "fr"),
    "fr-arretez-de": ("Arrêtez de m'envoyer des SMS !", "fr"),
    "fr-desabonnez-moi": ("désabonnez-moi", "fr"),
    "fr-me-desinscrire": ("je veux me désinscrire", "fr"),
    "fr-retirez-moi": ("Retirez-moi de votre liste", "fr"),
    "fr-ne-veux-plus": ("Je ne veux plus recevoir de messages", "fr"),
    "fr-merci-de-ne-plus": ("merci de ne plus me contacter", "fr"),
    "fr-plus-de-sms": ("Plus de SMS merci", "fr"),
    "de-keine-sms-mehr": ("bitte keine SMS mehr", "de"),
    "de-keine-werbung": ("Keine Werbung mehr, danke", "de"),
    "de-schreiben-sie-mir-nicht": ("Schreiben Sie mir nicht mehr", "de"),
    "de-mich-abmelden": ("Ich möchte mich abmelden", "de"),
    "de-tragen-sie-mich-aus": ("Tragen Sie mich bitte aus", "de"),
    "de-von-der-liste": ("Nehmen Sie mich von der Liste", "de"),
    "de-hoert-auf": ("Hört auf, mir zu schreiben!", "de"),
    "de-moechte-keine": ("Ich möchte keine SMS", "de"),
    "nl-stuur-me-geen": ("stuur me geen berichten meer", "nl"),
    "nl-geen-sms-meer": ("Geen sms meer aub", "nl"),
    "nl-me-afmelden": ("ik wil me afmelden", "nl"),
    "nl-mij-uitschrijven": ("Hoe kan ik mij uitschrijven?", "nl"),
    "nl-haal-me-van-de-lijst": ("haal me van de lijst", "nl"),
    "nl-stop-met-smsen": ("stop met sms'en", "nl"),
}


@pytest.mark.parametrize(("text", "language"), cases(OPT_OUT_PHRASES))
def test_opt_out_phrase(text: str, language: str) -> None:
    match = classify(text)
    assert (match.kind, match.language) == (OPT_OUT, language)


# Ordinary messages that merely contain a keyword, or negate one.
ORDINARY: dict[str, tuple[str]] = {
    "sale-end": ("when does the sale end?",),
    "cancel-order": ("can I cancel my order?",),
    "stopping-by": ("stopping by tomorrow",),
    "cant-stop-smiling": ("I can't stop smiling",),
    "dont-stop-deals": ("don't stop the deals!",),
    "dont-stop-sending": ("Don't stop sending me deals!",),
    "never-stop-texting": ("never stop texting me, love the deals",),
    "stop-serving": ("what time do you stop serving?",),
    "cancel-reservation": ("how do I cancel a reservation",),
    "end-of-month": ("the end of the month",),
    "quit-job": ("quit my job lol",),
    "help-choose-size": ("help me choose a size",),
    "need-help-order": ("I need help with my order",),
    "stop-by-store": ("Please stop by the store on Friday",),
    "bus-stop": ("Is the bus stop near your shop?",),
    "stop-at-mall": ("We'll stop at the mall, then head home",),
    "cancelled-order": ("My order was cancelled, can you check?",),
    "dont-unsubscribe": ("I don't want to unsubscribe",),
    "did-you-unsubscribe-me": ("why did you unsubscribe me?",),
    "dont-text-before-9": ("Please don't text me before 9am",),
    "cancel-it": ("Cancel it",),
    "stop-the-delivery": ("Can you stop the delivery? I won't be home",),
    "take-me-to-sale": ("take me to the sale page",),
    "waitlist": ("remove me from the waitlist for the blue one",),
    "wrong-number-question": ("is this the wrong number for support?",),
    "no-more-deals-question": ("are there no more deals this week?",),
    "unstoppable": ("unstoppable deals!",),
    "start-time": ("start time for the event?",),
    "yes-and-more": ("yes I'd like to know more about it",),
    "info-about": ("more info about the sale please",),
    "long-message": (
        "Hi! I ordered the red jacket last week and wanted to ask when it ships. If it's not "
        "in stock I'd rather cancel and stop by the store at the end of the month instead.",
    ),
    "empty": ("",),
    "blank": ("   ",),
    "emoji-only": ("🎉🎉",),
    "es-termina": ("¿Cuándo termina la oferta?",),
    "es-cancelar-pedido": ("quiero cancelar mi pedido",),
    "es-envias-mas": ("¿me envías más información?",),
    "es-no-me-enviaron": ("no me enviaron el pedido",),
    "es-no-me-envien-recibo": ("No me envíen el recibo",),
    "es-para-de-enviar-factura": ("Para de enviar la factura",),
    "es-muy-alto": ("el precio es muy alto",),
    "es-baja-de-precios": ("la baja de precios es genial",),
    "es-no-dejen-de": ("no dejen de enviarme ofertas",),
    "es-no-quiero-baja": ("no quiero darme de baja",),
    "fr-arret-de-bus": ("l'arrêt de bus est loin ?",),
    "fr-envoyez-plus": ("vous m'envoyez plus d'infos ?",),
    "fr-veux-plus-de-promos": ("je veux plus de promos",),
    "fr-narretez-pas": ("n'arrêtez pas de m'envoyer des offres",),
    "fr-pas-me-desabonner": ("je ne veux pas me désabonner",),
    "fr-fin-du-mois": ("fin du mois",),
    "de-ende-angebot": ("Wann ist das Ende des Angebots?",),
    "de-bestellung-kuendigen": ("Ich möchte meine Bestellung kündigen",),
    "de-nicht-abmelden": ("Ich will mich nicht abmelden",),
    "de-keine-groesse-mehr": ("Habt ihr keine Größe M mehr?",),
    "nl-stopt-de-actie": ("Wanneer stopt de actie?",),
    "nl-bestelling-opzeggen": ("Ik wil mijn bestelling opzeggen",),
    "nl-niet-afmelden": ("ik wil me niet afmelden",),
    "nl-einde-maand": ("einde van de maand",),
    "nl-stop-de-bestelling": ("stop de bestelling",),
}


@pytest.mark.parametrize("text", cases(ORDINARY))
def test_ordinary_text_is_no_keyword(text: str) -> None:
    assert classify(text) == NO_MATCH


NORMALISED: dict[str, tuple[str, str]] = {
    "full-width": ("ＩＮＦＯ？", "info"),
    "fancy-font": ("𝐒𝐓𝐎𝐏", "stop"),
    "circled": ("Ⓢⓣⓞⓟ", "stop"),
    "accents": ("Arrêt DÉSABONNER", "arret desabonner"),
    "umlaut": ("KÜNDIGEN", "kundigen"),
    "sharp-s": ("Straße", "strasse"),
    "whitespace": ("  Stop!\u00a0\tnow \n", "stop now"),
    "apostrophe": ("don't", "dont"),
    "smart-apostrophe": ("don’t m’envoyer", "dont menvoyer"),
    "hyphen": ("désabonnez-moi", "desabonnez moi"),
    "emoji": ("STOP 🛑🙏🏽", "stop"),
    "zero-width": ("S\u200bT\u200dOP", "stop"),
    "dotted": ("S.T.O.P.", "stop"),
    "two-letters-stay-apart": ("y a", "y a"),
    "emoji-only": ("🎉", ""),
    "cyrillic-look-alikes": ("S\u0422\u041e\u0420", "stop"),
    "greek-look-alikes": ("\u03a4\u039f\u03a1", "top"),
    "lower-case-look-alikes": ("\u0455\u0442\u043e\u0440", "stop"),
    "small-capitals": ("\ua731\u1d1b\u1d0f\u1d18", "stop"),
    "dollar-for-s": ("$TOP", "stop"),
    "dollar-for-money": ("$5 off", "5 off"),
}


@pytest.mark.parametrize(("text", "expected"), cases(NORMALISED))
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


# Disguised and misspelt words are read as the keyword they stand for, and only then.
SPELLING: dict[str, tuple[str, KeywordMatch]] = {
    "digit-for-letter": ("ST0P", KeywordMatch(OPT_OUT, "STOP", "en")),
    "digits-in-two-words": ("0PT 0UT", KeywordMatch(OPT_OUT, "OPT OUT", "en")),
    "held-down-letter": ("stoppp", KeywordMatch(OPT_OUT, "STOP", "en")),
    "held-down-filler": ("pleeease stop", KeywordMatch(OPT_OUT, "STOP", "en")),
    "spelled-out-then-words": ("S.T.O.P. NOW", KeywordMatch(OPT_OUT, "STOP", "en")),
    "spelled-out-sentence": ("Who is this? S T O P", KeywordMatch(OPT_OUT, "STOP", "en")),
    "swapped-letters": ("sotp", KeywordMatch(OPT_OUT, "STOP", "en")),
    "missing-letter": ("unsubscibe", KeywordMatch(OPT_OUT, "UNSUBSCRIBE", "en")),
    "wrong-letter": ("unsubscrive me", KeywordMatch(OPT_OUT, "UNSUBSCRIBE", "en")),
    "de-swapped": ("abmleden", KeywordMatch(OPT_OUT, "ABMELDEN", "de")),
    "courtesy-around-exact": ("Cancel please", KeywordMatch(OPT_OUT, "CANCEL", "en")),
    "courtesy-around-start": ("START please", KeywordMatch(OPT_IN, "START", "en")),
    # a real word one letter from a keyword stays itself
    "join-not-a-typo-of-stop-word": ("anmelden bitte", KeywordMatch(JOIN, "ANMELDEN", "de")),
    "short-word-one-letter-off": ("shop", NO_MATCH),
    "short-word-one-letter-more": ("stops", NO_MATCH),
    "ending-is-not-a-typo": ("unsubscribed", NO_MATCH),
    "past-tense-question": ("why did I get unsubscribed?", NO_MATCH),
    "order-number": ("0rder 4411", NO_MATCH),
    "letters-spelling-no-keyword": ("S-T-O-R-E hours?", NO_MATCH),
    "not-courtesy": ("cancel it", NO_MATCH),
}


@pytest.mark.parametrize(("text", "expected"), cases(SPELLING))
def test_disguised_and_misspelt_keywords(text: str, expected: KeywordMatch) -> None:
    assert classify(text) == expected


PRECEDENCE: dict[str, tuple[str, KeywordKind]] = {
    "yes-then-stop": ("Yes. Stop.", OPT_OUT),
    "help-then-unsubscribe": ("Help! I want to unsubscribe", OPT_OUT),
    "info-then-stop": ("info, stop", OPT_OUT),
    "join-then-stop": ("JOIN. STOP.", OPT_OUT),
    "stop-then-start": ("stop! start?", OPT_OUT),
    "unstop-is-not-stop": ("UNSTOP", OPT_IN),
}


@pytest.mark.parametrize(("text", "kind"), cases(PRECEDENCE))
def test_opt_out_beats_everything(text: str, kind: KeywordKind) -> None:
    assert classify(text).kind is kind


def test_every_shipped_keyword_classifies_as_itself() -> None:
    vocabulary = default_vocabulary()
    for key, match in vocabulary.exact.items():
        assert classify(key, vocabulary) == match, key


def test_default_vocabulary_is_loaded_once() -> None:
    assert default_vocabulary() is default_vocabulary()


@pytest.fixture(scope="module")
def brand() -> Vocabulary:
    return load_vocabulary(extra_join=["DEALS", "Pizza Party", "stop"])


BRAND: dict[str, tuple[str, KeywordMatch]] = {
    "brand-keyword": ("deals", KeywordMatch(JOIN, "DEALS", None)),
    "brand-keyword-bang": ("Deals!", KeywordMatch(JOIN, "DEALS", None)),
    "brand-two-words": ("pizza party", KeywordMatch(JOIN, "PIZZA PARTY", None)),
    "brand-in-a-sentence": ("I love your deals", NO_MATCH),
    "stop-brand": ("STOP DEALS", KeywordMatch(OPT_OUT, "STOP", "en")),
    "help-brand": ("help pizza party", KeywordMatch(HELP, "HELP", "en")),
    "brand-stop-stays-opt-out": ("stop", KeywordMatch(OPT_OUT, "STOP", "en")),
    "join-still-works": ("join", KeywordMatch(JOIN, "JOIN", "en")),
}


@pytest.mark.parametrize(("text", "expected"), cases(BRAND))
def test_brand_join_keywords(brand: Vocabulary, text: str, expected: KeywordMatch) -> None:
    assert classify(text, brand) == expected


def test_brand_keyword_needs_a_letter() -> None:
    with pytest.raises(ValueError, match="brand keyword"):
        load_vocabulary(extra_join=["🍕"])


CUSTOM_FILE = """\
en:
  opt_out:
    strong: [HALT]
    patterns: ['go away']
  confirm:
    strong: [ON]  # unquoted ON stays a word, not a YAML boolean
  join:
    exact: ['stop now']  # loses to STOP: opt-out wins
it:
  filler: [grazie]
  courtesy: [grazie]
  opt_out:
    exact: [FERMA]
    typos: [FERMA]
  help:
    strong: [AIUTO]
"""

CUSTOM: dict[str, tuple[str, KeywordMatch]] = {
    "added-word": ("halt please", KeywordMatch(OPT_OUT, "HALT", "en")),
    "added-pattern": ("just go away", KeywordMatch(OPT_OUT, None, "en")),
    "yaml-boolean-stays-a-word": ("on", KeywordMatch(CONFIRM, "ON", "en")),
    "join-loses-to-stop": ("stop now", KeywordMatch(OPT_OUT, "STOP", "en")),
    "added-language": ("FERMA", KeywordMatch(OPT_OUT, "FERMA", "it")),
    "added-language-filler": ("aiuto grazie", KeywordMatch(HELP, "AIUTO", "it")),
    "added-courtesy": ("ferma grazie", KeywordMatch(OPT_OUT, "FERMA", "it")),
    "added-typo": ("frema", KeywordMatch(OPT_OUT, "FERMA", "it")),
    "defaults-kept": ("unsubscribe", KeywordMatch(OPT_OUT, "UNSUBSCRIBE", "en")),
    "default-phrases-kept": ("take me off your list", KeywordMatch(OPT_OUT, None, "en")),
}


@pytest.mark.parametrize(("text", "expected"), cases(CUSTOM))
def test_custom_keywords_file(tmp_path: Path, text: str, expected: KeywordMatch) -> None:
    path = tmp_path / "keywords.yaml"
    path.write_text(CUSTOM_FILE, encoding="utf-8")
    assert classify(text, load_vocabulary(str(path))) == expected


def test_custom_file_can_replace_a_section(tmp_path: Path) -> None:
    path = tmp_path / "keywords.yaml"
    path.write_text("en:\n  opt_out:\n    replace: true\n    strong: [STOP]\n", encoding="utf-8")
    vocabulary = load_vocabulary(path)
    assert classify("end", vocabulary) == NO_MATCH
    assert classify("stop please", vocabulary) == KeywordMatch(OPT_OUT, "STOP", "en")
    assert classify("ARRÊT", vocabulary).kind is OPT_OUT  # other languages untouched


def test_keywords_are_read_as_written_even_where_yaml_sees_numbers(tmp_path: Path) -> None:
    # A settings reader would make 010 the number 8, 0x1F 31 and NULL nothing at all.
    path = tmp_path / "keywords.yaml"
    path.write_text("en:\n  join:\n    exact: [010, 0x1F, NULL]\n", encoding="utf-8")
    vocabulary = load_vocabulary(path)
    for written in ("010", "0x1F", "NULL"):
        assert classify(written, vocabulary) == KeywordMatch(JOIN, written.upper(), "en")
    assert classify("8", vocabulary) == NO_MATCH


def test_empty_custom_file_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "keywords.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    assert classify("stop", load_vocabulary(path)) == KeywordMatch(OPT_OUT, "STOP", "en")


# file content -> (line named in the error, or None, and what the error says)
BROKEN: dict[str, tuple[str, int | None, str]] = {
    "yaml-syntax": ("en:\n  opt_out:\n    strong: [STOP\n", 4, "bad YAML"),
    "top-level-list": ("- stop\n", 1, "must be a mapping"),
    "unknown-section": ("en:\n  optout:\n    strong: [X]\n", 2, "unknown key 'optout'"),
    "unknown-list": ("en:\n  help:\n    words: [X]\n", 3, "unknown key 'words'"),
    "not-a-list": ("en:\n  opt_out:\n    strong: STOP\n", 3, "must be a list of strings"),
    "nested-list": ("en:\n  opt_out:\n    strong: [[STOP]]\n", 3, "non-empty string"),
    "duplicate-key": ("en:\n  help:\n    strong: [A]\n    strong: [B]\n", 4, "duplicate key"),
    "bad-regex": ("en:\n  opt_out:\n    patterns: ['(stop']\n", 3, "bad pattern"),
    "pattern-not-normalised": (
        "en:\n  opt_out:\n    patterns: ['Arrêt']\n",
        3,
        "normalised form",
    ),
    "keyword-without-letters": ("en:\n  opt_out:\n    strong: ['🛑']\n", 3, "no letters"),
    "keyword-all-filler": ("en:\n  opt_out:\n    strong: [PLEASE NOW]\n", 3, "all filler"),
    "keyword-is-filler": ("en:\n  help:\n    strong: [PLEASE]\n", 3, "also filler"),
    "filler-is-keyword": ("en:\n  filler: [yes]\n", 2, "also filler"),
    "bad-replace": ("en:\n  help:\n    replace: maybe\n", 3, "true or false"),
    "typo-not-a-keyword": ("en:\n  opt_out:\n    typos: [HALT]\n", 3, "is not a keyword"),
    "typo-too-short": ("en:\n  opt_out:\n    typos: [END]\n", 3, "four letters or more"),
    "typo-two-words": ("en:\n  opt_out:\n    typos: [STOP ALL]\n", 3, "one word"),
    "courtesy-not-a-list": ("en:\n  courtesy: please\n", 2, "must be a list of strings"),
    "not-utf8": ("\udcff", None, "cannot read"),
}


@pytest.mark.parametrize(("content", "line", "problem"), cases(BROKEN))
def test_broken_keywords_file(tmp_path: Path, content: str, line: int | None, problem: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    with pytest.raises(KeywordFileError, match=problem) as error:
        load_vocabulary(path)
    assert (f"{path}:{line}" if line else f"{path}:") in str(error.value)


def test_missing_keywords_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(KeywordFileError, match="cannot read keywords file") as error:
        load_vocabulary(path)
    assert str(path) in str(error.value)
