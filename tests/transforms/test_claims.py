"""extract_claims against the annotation guidelines (section 3), its lexicon, and ExtractClaims."""

from dataclasses import asdict
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.claims import (
    CLAIM_TYPES,
    ClaimError,
    ClaimLexiconError,
    ExtractClaims,
    default_claim_lexicon,
    extract_claims,
    load_claim_lexicon,
)
from transforms.model import Actor, ActorMention, Article, Claim

def claims(text: str, language: str = "en", title: str = "") -> list[Claim]:
    return extract_claims(title, text, language)


def triples(text: str, language: str = "en", title: str = "") -> set[tuple[str, str, str]]:
    return {(c.country, c.type, c.polarity) for c in claims(text, language, title)}


def only(text: str, language: str = "en") -> Claim:
    found = claims(text, language)
    assert len(found) == 1, found
    return found[0]


# --- every type, asserted and denied -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Turkey has deployed military advisers and trainers to Tripoli to support the "
         "Government of National Accord in Libya.", ("turkey", "troops", "asserted")),
        ("Hundreds of Wagner Group mercenaries are fighting alongside Haftar's forces south of "
         "Tripoli, diplomats said.", ("russia", "mercenaries", "asserted")),
        ("The United Arab Emirates supplied Pantsir air defence systems to the Libyan National "
         "Army, according to a confidential UN report seen by Reuters.",
         ("uae", "weapons", "asserted")),
        ("Egyptian warplanes carried out air strikes on positions of the Government of National "
         "Accord near Sirte.", ("egypt", "strikes", "asserted")),
        ("Qatar has funded the Government of National Accord in Libya with hundreds of millions "
         "of dollars, two sources familiar with the matter said.",
         ("qatar", "funding", "asserted")),
        ("Russia has given diplomatic backing to Khalifa Haftar at the Security Council.",
         ("russia", "political", "asserted")),
        ("Moscow denied sending troops to Libya.", ("russia", "troops", "denied")),
        ("Ankara has not supplied any drones to the GNA in Libya, the Turkish defence ministry "
         "said.", ("turkey", "weapons", "denied")),
        ("Cairo rejected reports that Egyptian jets had bombed Misrata.",
         ("egypt", "strikes", "denied")),
        ("The Russian state has no soldiers in Libya, the Kremlin spokesman said.",
         ("russia", "troops", "denied")),
        ("France has denied supporting Haftar, insisting it backs the UN-led process in Libya.",
         ("france", "political", "denied")),
    ],
)
def test_each_type_and_polarity(text, expected):
    assert triples(text) == {expected}


def test_funding_denied_in_a_charge_clause():
    found = claims("The UAE is bankrolling Wagner's operations in Libya, U.S. officials said, "
                   "a charge Abu Dhabi denies.")
    assert {(c.country, c.type, c.polarity, c.source) for c in found} == {
        ("uae", "funding", "asserted", "U.S. officials"),
        ("uae", "funding", "denied", "Abu Dhabi"),
    }


def test_claim_types_are_the_guidelines_six():
    assert CLAIM_TYPES == ("troops", "mercenaries", "weapons", "strikes", "funding", "political")


# --- the country rules ----------------------------------------------------------------------


def test_wagner_counts_for_russia():
    claim = only("Wagner has about 1,200 fighters in Libya.")
    assert (claim.actor, claim.country, claim.type) == ("wagner_group", "russia", "mercenaries")


def test_africa_corps_personnel_are_russian_troops():
    claim = only("Several hundred Africa Corps personnel have arrived at al-Jufra airbase in "
                 "Libya, "
                 "diplomats said.")
    assert (claim.actor, claim.country, claim.type) == ("africa_corps", "russia", "troops")


def test_syrian_fighters_paid_by_turkey_count_for_turkey_and_pay_is_not_funding():
    claim = only("Turkey paid Syrian fighters $2,000 a month to fight for the GNA in Libya.")
    assert (claim.country, claim.type, claim.beneficiary) == ("turkey", "mercenaries", "gna")


def test_syrian_fighters_recruited_by_wagner_count_for_russia():
    claim = only("Wagner recruited Syrian fighters to fight for Haftar in Libya.")
    assert (claim.actor, claim.country, claim.type, claim.beneficiary) == (
        "wagner_group", "russia", "mercenaries", "lna")


def test_sudanese_and_chadian_fighters_without_a_sender_count_for_their_own_state():
    assert triples("Sudanese fighters are fighting alongside the LNA in southern Libya, a UN "
                   "panel said.") == {("sudan", "mercenaries", "asserted")}
    assert triples("Chadian mercenaries have joined the battle for Tripoli on the side of the "
                   "LNA.") == {("chad", "mercenaries", "asserted")}
    assert triples("The report documented Chadian and Sudanese fighters on both sides of the "
                   "front line in Libya.") == {("chad", "mercenaries", "asserted"),
                                               ("sudan", "mercenaries", "asserted")}


def test_a_states_own_troops_are_not_foreign_fighters():
    assert triples("Sudan's government denied that Sudanese troops were fighting in Libya.") == {
        ("sudan", "troops", "denied")}


def test_syrian_fighters_take_the_sender_named_earlier_in_the_article():
    text = ("Turkey has sent thousands of Syrian fighters to Libya to back the GNA. "
            "Some of the Syrian fighters returned home this week.")
    assert {(c.country, c.type) for c in claims(text)} == {("turkey", "mercenaries")}


# --- beneficiary and source -----------------------------------------------------------------


def test_beneficiary_from_the_side_backed():
    assert only("Turkey is supplying the GNA in Libya with drones.").beneficiary == "gna"
    assert only("Russia has given diplomatic backing to Khalifa Haftar.").beneficiary == "lna"


def test_strikes_on_a_side_benefit_the_other():
    assert only("Egyptian warplanes carried out air strikes on positions of the Government of "
                "National Accord near Sirte.").beneficiary == "lna"


def test_the_other_side_is_resolved_against_the_side_named_before():
    found = claims("Russia backs Haftar in Libya's war. "
                   "Turkey has sent military advisers to the other side.")
    assert {(c.country, c.type, c.beneficiary) for c in found} == {
        ("russia", "political", "lna"), ("turkey", "troops", "gna")}


def test_a_countrys_side_carries_over_to_its_claims_that_name_none():
    found = claims("Wagner fighters fight for Haftar in Libya. Wagner also has snipers in Sirte.")
    assert [c.beneficiary for c in found] == ["lna", "lna"]


@pytest.mark.parametrize(
    ("text", "source"),
    [
        ("Wagner has up to 1,200 people deployed in Libya, according to a confidential UN report "
         "seen by Reuters in May.", "a confidential UN report seen by Reuters"),
        ("A Russian drive to recruit Syrians to fight in Libya for Khalifa Haftar accelerated in "
         "May, five Syrian opposition sources and a regional source familiar with the matter said.",
         "five Syrian opposition sources and a regional source familiar with the matter"),
        ('"Russia has sent fighter jets to Libya," said Joshua Landis, head of the Center for '
         "Middle East Studies.", "Joshua Landis"),
        ("Turkey has deployed drones to Libya.", None),
    ],
)
def test_source_as_written(text, source):
    assert {c.source for c in claims(text)} == {source}


def test_a_foreign_source_is_not_an_actor():
    # "Syrian opposition sources" name the speakers, not Syria as an actor.
    assert {c.country for c in claims(
        "Wagner is recruiting fighters for Libya, Syrian opposition sources said.")} == {"russia"}


def test_claim_fields():
    claim = only("The United Arab Emirates supplied Pantsir air defence systems to the Libyan "
                 "National Army, according to a confidential UN report seen by Reuters.")
    assert claim.actor == "uae" and claim.beneficiary == "lna"
    assert claim.sentence.startswith("The United Arab Emirates supplied")
    assert 0.0 <= claim.confidence <= 1.0


# --- what is not a claim --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Wagner mercenaries are fighting jihadists in Mali, officials said.",
        "Wagner has been accused of atrocities in the Central African Republic and Mali.",
        "Turkey sent a navy ship carrying humanitarian aid and field hospitals to Derna after the "
        "floods in Libya.",
        "Turkish companies signed construction contracts worth $2 billion with Libya's Government "
        "of National Unity.",
        "Russia's wheat exports to Libya rose 20 percent last year, customs data showed.",
        "Egypt beat Libya 3-0 in an Africa Cup of Nations qualifier in Cairo.",
        "The Russian Defence Ministry did not respond to a request for comment on the deployment "
        "of troops in Libya.",
        "France's foreign ministry urged all Libyan parties to respect the ceasefire and supported "
        "the UN-led political process.",
        "Russia and Turkey called on the warring sides in Libya to agree a ceasefire.",
        "Egypt said it could send troops into Libya if Sirte fell.",
        "The German foreign minister called for all foreign fighters to leave Libya.",
        "Moscow has been a close ally of Syrian President Bashar al-Assad.",
    ],
)
def test_not_claims(text):
    assert claims(text) == []


def test_the_maker_of_a_weapon_is_not_its_supplier():
    found = claims("France said four U.S.-made Javelin missiles found at a base used by Haftar's "
                   "forces in Libya belonged to the French army.")
    assert {c.country for c in found} == {"france"}


def test_a_text_without_foreign_actors_has_no_claims():
    assert claims("Haftar's forces shelled Tripoli on Sunday.") == []
    assert claims("") == []


# --- a claim and its denial -------------------------------------------------------------------


def test_a_claim_and_its_denial_give_two_triples():
    text = "A UN report said Russia had sent Wagner mercenaries to Libya. Moscow denied the report."
    assert triples(text) == {("russia", "mercenaries", "asserted"),
                             ("russia", "mercenaries", "denied")}


def test_a_denial_takes_the_type_of_the_claim_it_answers():
    # "having forces" would be troops on its own; it answers the Wagner claim.
    text = ("Wagner has up to 1,200 people deployed in Libya, according to a UN report. "
            "The Russian state has denied having forces in Libya.")
    denied = [c for c in claims(text) if c.polarity == "denied"]
    assert [(c.actor, c.country, c.type) for c in denied] == [
        ("wagner_group", "russia", "mercenaries")]


def test_a_third_party_denial_of_unnamed_foreign_forces():
    text = ("Russia has deployed hundreds of Africa Corps troops to Libyan airbases held by "
            "Haftar, diplomats said. The LNA said no foreign forces were stationed at its bases.")
    assert triples(text) == {("russia", "troops", "asserted"), ("russia", "troops", "denied")}


def test_an_admission_inside_a_denial_is_asserted():
    text = ("Turkey's defence ministry denied that its forces had carried out any strike near "
            "Sirte, saying Turkish personnel in Libya were engaged only in training.")
    assert triples(text) == {("turkey", "strikes", "denied"), ("turkey", "troops", "asserted")}


# --- other languages --------------------------------------------------------------------------


def test_french_claim():
    found = claims("La Turquie a envoyé des drones et des conseillers militaires au Gouvernement "
                   "d'union nationale (GNA) en Libye, selon des diplomates.", "fr")
    assert {(c.country, c.type, c.polarity, c.source) for c in found} == {
        ("turkey", "weapons", "asserted", "des diplomates"),
        ("turkey", "troops", "asserted", "des diplomates"),
    }


def test_french_denial():
    assert triples("La Russie a démenti avoir envoyé des mercenaires en Libye.", "fr") == {
        ("russia", "mercenaries", "denied")}


def test_arabic_claim_and_denial():
    assert triples("قالت مصادر عسكرية إن الإمارات زودت قوات حفتر بطائرات مسيرة في ليبيا.",
                   "ar") == {("uae", "weapons", "asserted")}
    assert triples("نفت موسكو إرسال مرتزقة إلى ليبيا.", "ar") == {
        ("russia", "mercenaries", "denied")}


def test_russian_claim_and_denial():
    claim = only("Турция направила в Ливию военных советников, сообщили источники.", "ru")
    assert (claim.country, claim.type, claim.polarity, claim.source) == (
        "turkey", "troops", "asserted", "источники")
    assert triples("Кремль отрицает присутствие российских военных в Ливии.", "ru") == {
        ("russia", "troops", "denied")}


# --- two reference articles ----------------------------------------------------------------------

REFERENCE_ARTICLES = {
    "contractors": (
        'Reports have emerged highlighting several dozen armed private security contractors '
        'from Russia having operated in a part of Libya under the control of regional army '
        'leader Khalifa Haftar, like reported by middleeastmonitor.com.\nThe reports were '
        'confirmed by the head of the firm that hired the contractors who spoke to Reuters. '
        'The reports are the latest sign of Moscow’s public diplomatic support for Haftar.\n'
        'Military strongmen Haftar is opposed to the UN-backed government which Western states '
        'see as the best chance of restoring stability in Libya.\nHowever some Russian '
        'policymakers see the Libyan strongman as Libya’s best choice in ending the six years '
        'of lawless chaos that followed the ousting of long-time leader Muammar Gaddafi.\n'
        'According to the head of the firm, the presence of the military contractors was '
        'purely a commercial arrangement which was unlikely to have been allowed to operate in '
        'the North African country without prior approval from Moscow.\nOne of the owners of '
        'the Russian firms, Oleg Krinitsyn, said he sent the contractors to eastern Libya last '
        'year and were removed once their mission was completed.\nThe task of the contractors '
        'was to remove mines from an industrial facility near the eastern Libyan city of '
        'Benghazi, an area Haftar’s forces liberated from Daesh last year.\nWhen asked whether '
        'the mission had official blessing from Moscow, Krinitsyn told Reuters his firm did '
        'not work with the Russian Defence Ministry, but was “consulting” with the Russian '
        'Foreign Ministry.\nIf we’re under assault we enter the battle, of course, to protect '
        'our lives and the lives of our clients,\nKrinitsyn said his contractors were ready to '
        'strike back in case of an attack.\nThe Russian foreign ministry said in a statement '
        'sent to Reuters that it had no information on the presence of the contractors in '
        'Libya and did not know Krinitsyn.\nSupport in the battle\nKrinitsyn said some of the '
        'contractors he hired for Libya had previously worked in Syria, though not in combat '
        'roles and declined to disclose how many contractors were involved in the mission in '
        'Libya, citing commercial secrecy.\nHaftar has been seeking military support to help '
        'consolidate his control over parts of Libya which Russia has been willing to engage '
        'with as it seeks to broaden its influence in the region.\nThe general’s close '
        'colleague and advisor, Abdelbasset Al-Badri, met with Russian Deputy Foreign Minister '
        'Mikhail Bogdanov in Moscow today to further press for support in the battle against '
        'the Benghazi Defence Brigades.\nAccording to the Russian foreign ministry: “Both '
        'sides exchanged detailed views on of the developments in Libya.”\nIt also said that '
        'Bogdanov and Badri “agreed on the importance to arrange a collective dialogue to be '
        'participated by representatives from all political and tribal groups.”'
    ),
    "recruitment": (
        ' date 2020-06-07 A Russian drive to recruit Syrians to fight in Libya for warlord '
        'Khalifa Haftar accelerated in May when hundreds of mercenaries were signed up, five '
        'Syrian opposition sources and a regional source familiar with the matter said.\n\n'
        'Private military contractor Wagner Group is conducting the hiring with Russian army '
        'supervision, according to two senior Syrian opposition sources and the regional '
        'source.\n\nA former Wagner Group member said it first sent Syrians to Libya in 2019.\n'
        '\nThe Russian Defence Ministry and the Wagner group did not respond to questions from '
        'Reuters.\n\nRussia has been a staunch ally of Syrian regime leader Bashar al Assad, '
        "helping him crush opposition and rebels at home.\n\nMoscow's involvement in Libya is "
        'an extension of its ambition to project influence in the Eastern Mediterranean, some '
        "experts say.\n\nRequested Turkey's support in response to 'international meddling'\n\n"
        'Meanwhile, Turkey has said it is providing military support to the other side of the '
        'conflict, on the request of the internationally recognised Government of National '
        'Accord (GNA) based in Tripoli.\n\nEgypt and the United Arab Emirates have also lent '
        'support to Haftar because they suspect the the GNA of having ties to the Muslim '
        'Brotherhood, a movement they strongly oppose.\n\nTurkey who has made deals with '
        'Tripoli over maritime borders and wants to protect its own interests in the region, '
        'is supplying the GNA with drones, air defences and advisers.\n\n“In the last few '
        'days, [our soldiers] have been following targeted plans in the fight alongside their '
        "Libyan brothers,” Turkey's President Recep Tayyip Erdogan said after the GNA's recent "
        'gains in Libya.\n\nThe involvement of Russia and Turkey on opposite sides of the '
        'Libyan conflict has echoes of the war in Syria, where they have also backed warring '
        'parties.\n\n"Russia and Turkey are both escalating their fire power and force numbers '
        'in Libya, where Europe has been caught on its heels," said Joshua Landis, head of the '
        'Center for Middle East Studies at the University of Oklahoma.\n\n"Russia has tried to '
        'match Turkey\'s effort to send Syrian mercenaries, but with mixed results."\n\nWagner '
        'has up to 1,200 people deployed in Libya, according to a confidential UN report seen '
        'by Reuters in May. The Russian state has denied having forces in Libya.\n\nWhen asked '
        'in January if the Wagner Group is fighting in Libya, Russian President Vladimir Putin '
        'said that if there are Russians in Libya, they are not representing the Russian '
        "state, nor are they paid by the state.\n\nA spokesman for Haftar's militia denied it "
        'had recruited Syrian fighters.'
    ),
}

# Derived by the guidelines:
# contractors: contractors from Russia in Haftar's east (mercenaries, asserted); Moscow's "public
#      diplomatic support for Haftar" and the meeting to press for support (political); the
#      Russian foreign ministry "had no information on the presence of the contractors"
#      (mercenaries, denied). The Syria remark is about the contractors' past elsewhere.
# recruitment: the Russian drive to recruit Syrians, Wagner's hiring and 1,200 people (russia,
#      mercenaries); "the Russian state has denied having forces" and Putin's "not representing
#      the Russian state" answer the Wagner claim (russia, mercenaries, denied); "escalating ...
#      force numbers in Libya" (russia and turkey, troops); Turkey's drones and air defences
#      (weapons), advisers and "[our soldiers]" (troops), and Syrian mercenaries it sends
#      (mercenaries); Egypt and the UAE "lent support to Haftar" (political). Russia as
#      "staunch ally" of Assad is another country's war; "did not respond" is no claim.
REFERENCE_TRIPLES = {
    "contractors": {
        ("russia", "mercenaries", "asserted"),
        ("russia", "mercenaries", "denied"),
        ("russia", "political", "asserted"),
    },
    "recruitment": {
        ("egypt", "political", "asserted"),
        ("uae", "political", "asserted"),
        ("russia", "mercenaries", "asserted"),
        ("russia", "mercenaries", "denied"),
        ("russia", "troops", "asserted"),
        ("turkey", "mercenaries", "asserted"),
        ("turkey", "troops", "asserted"),
        ("turkey", "weapons", "asserted"),
    },
}


@pytest.mark.parametrize("name", sorted(REFERENCE_TRIPLES))
def test_reference_article_triples(name):
    assert triples(REFERENCE_ARTICLES[name]) == REFERENCE_TRIPLES[name]


def test_reference_article_details():
    found = claims(REFERENCE_ARTICLES["recruitment"])
    wagner = [c for c in found if c.actor == "wagner_group" and c.polarity == "asserted"
              and c.source == "a confidential UN report seen by Reuters"]
    assert wagner and wagner[0].beneficiary == "lna"
    assert wagner[0].sentence.startswith("Wagner has up to 1,200 people deployed in Libya")
    weapons = [c for c in found if c.type == "weapons"]
    assert [(c.actor, c.beneficiary) for c in weapons] == [("turkey", "gna")]


# --- given mentions, bad input, the lexicon file ------------------------------------------------

ACTORS = {
    "turkey": Actor("turkey", "Turkey", "state", "turkey"),
    "gna": Actor("gna", "Government of National Accord", "government", "libya"),
}


def test_given_mentions_are_used_instead_of_the_tagger():
    text = "Ankara sent drones to the GNA."
    mentions = [ActorMention("turkey", "Ankara", 1, 7), ActorMention("gna", "GNA", 27, 30)]
    found = extract_claims("", text, "en", mentions, actors=ACTORS)
    assert [(c.actor, c.type, c.beneficiary) for c in found] == [("turkey", "weapons", "gna")]
    assert extract_claims("", text, "en", [], actors=ACTORS) == []


def test_mentions_that_do_not_fit_the_text_are_an_error():
    with pytest.raises(ClaimError, match=r"mention 'turkey' at 0:6 reads '\\nAnkar', not 'Ankara'"):
        extract_claims("", "Ankara sent drones.", "en",
                       [ActorMention("turkey", "Ankara", 0, 6)], actors=ACTORS)


def test_lexicon_file_errors_name_the_file_and_the_place(tmp_path):
    with pytest.raises(ClaimLexiconError, match="nowhere.yaml: cannot read"):
        load_claim_lexicon(tmp_path / "nowhere.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("types: [", encoding="utf-8")
    with pytest.raises(ClaimLexiconError, match="broken.yaml: invalid YAML"):
        load_claim_lexicon(broken)
    packaged = Path(__file__).parents[2] / "transforms" / "data" / "claims.yaml"
    text = packaged.read_text(encoding="utf-8")
    no_types = tmp_path / "no_types.yaml"
    no_types.write_text(text.replace("\ntypes:", "\nkinds:"), encoding="utf-8")
    with pytest.raises(ClaimLexiconError, match="no_types.yaml: missing 'types'"):
        load_claim_lexicon(no_types)
    bad_form = tmp_path / "bad_form.yaml"
    bad_form.write_text(
        text.replace("      - troops\n", "      - {surface: troops, plural: true}\n", 1),
        encoding="utf-8")
    with pytest.raises(ClaimLexiconError, match=r"types\.troops\.en\.forms\[0\]: unknown field"):
        load_claim_lexicon(bad_form)


def test_default_lexicon_is_loaded_once():
    assert default_claim_lexicon() is default_claim_lexicon()


# --- the Beam transform --------------------------------------------------------------------------


def article(article_id: str, title: str, text: str, **extra) -> Article:
    return Article(
        id=article_id, url=None, title=title, text=text, published="2020-06-07T00:00:00Z",
        published_source="input", language="en", language_source="input", outlet=None,
        content_hash=article_id, feed_url="https://feeds.example/libya.xml", extra=extra)


CLAIMING = article("a", "Turkey sends drones to Libya", "Turkey has supplied the GNA with drones.",
                   actors=["turkey"])
QUIET = article("b", "Libya's oil output rises", "Output reached 1.2 million barrels a day.")
BROKEN = article("c", "Turkey", "Drones.",
                 actor_mentions=[{"actor_id": "turkey", "surface": "Turkey", "start": 3, "end": 9}])


def _triples_of(item: Article) -> tuple[str, list[tuple[str, str, str]]]:
    return item.id, sorted({(c["country"], c["type"], c["polarity"]) for c in item.extra["claims"]})


CLAIM_FIELDS = ["claim_countries", "claim_keys", "claim_polarities", "claim_types", "claims"]


def test_extract_claims_transform():
    pipeline = test_pipeline.TestPipeline()
    result = pipeline | beam.Create([CLAIMING, QUIET, BROKEN]) | ExtractClaims()
    assert_that(result.articles | beam.Map(_triples_of),
                equal_to([("a", [("turkey", "weapons", "asserted")]), ("b", [])]), label="claims")
    assert_that(result.articles | beam.Map(lambda item: sorted(item.extra)),
                equal_to([["actors", *CLAIM_FIELDS], CLAIM_FIELDS]), label="extra kept")
    assert_that(result.articles | beam.Map(lambda item: (item.id, item.extra["claim_keys"])),
                equal_to([("a", ["turkey:weapons:asserted"]), ("b", [])]), label="flat keys")
    assert_that(result.dead_letter | beam.Map(lambda letter: (letter.stage, letter.key,
                                                               letter.feed_url)),
                equal_to([("claims", "c", "https://feeds.example/libya.xml")]), label="dead")
    outcome = pipeline.run()
    outcome.wait_until_finish()
    counters = outcome.metrics().query(MetricsFilter().with_name("claims_found"))["counters"]
    assert sum(counter.committed for counter in counters) == 2  # the title's and the text's


def test_extract_claims_transform_reuses_stored_mentions():
    text = "Ankara sent drones to the GNA in Libya."
    stored = [asdict(ActorMention("turkey", "Ankara", len("Libya") + 1, len("Libya") + 7))]
    item = article("d", "Libya", text, actor_mentions=stored)
    pipeline = test_pipeline.TestPipeline()
    result = pipeline | beam.Create([item]) | ExtractClaims()
    # Only the stored mentions count: the GNA, not among them, is no beneficiary.
    assert_that(result.articles | beam.Map(
        lambda a: [(c["actor"], c["type"], c["beneficiary"]) for c in a.extra["claims"]]),
        equal_to([[("turkey", "weapons", None)]]))
    pipeline.run().wait_until_finish()


def test_extract_claims_transform_checks_its_lexicon_when_built(tmp_path):
    with pytest.raises(ClaimLexiconError, match="nowhere.yaml"):
        ExtractClaims(str(tmp_path / "nowhere.yaml"))


# --- demonyms bound to their noun, possessed nouns, side relations across clauses ----------


@pytest.mark.parametrize("text, language", [
    ("Egyptian warplanes and Chadian gunmen were seen near Sirte on Monday.", "en"),
    ("Des drones égyptiens et des combattants tchadiens ont été vus près de Syrte.", "fr"),
])
def test_a_demonym_bound_to_its_noun_is_not_the_fighters_sender(text, language):
    assert triples(text, language) == {("egypt", "weapons", "asserted"),
                                       ("chad", "mercenaries", "asserted")}


def test_a_state_named_as_subject_still_sends_fighters():
    assert triples("Russia sent Syrian fighters to Libya.") == {
        ("russia", "mercenaries", "asserted")}


def test_a_side_owning_a_backing_noun_is_the_beneficiary_not_the_opponent():
    found = claims("Moscow denied that Wagner contractors were fighting near Sirte, "
                   "calling the stories about Haftar's allies invented.")
    assert [(c.country, c.type, c.polarity, c.beneficiary) for c in found] == [
        ("russia", "mercenaries", "denied", "lna")]


def test_a_possessed_backing_noun_needs_its_actor_in_apposition():
    assert ("egypt", "political", "asserted") in triples(
        "Egypt, one of Haftar's allies, sent armoured vehicles to Benghazi.")


# --- denials in general words take the claims they answer ----------------------------------------


@pytest.mark.parametrize(("text", "language", "expected"), [
    # "the accusations", "no personnel", "the reports": the nearest claim of the denier's country
    ("A UN panel said Russia had delivered Pantsir air-defence systems to Haftar's forces. "
     "The Kremlin rejected the accusations as baseless.", "en",
     {("russia", "weapons", "asserted"), ("russia", "weapons", "denied")}),
    ("Wagner Group contractors have been deployed near Sirte, diplomats said. "
     "Moscow said it had no personnel in Libya.", "en",
     {("russia", "mercenaries", "asserted"), ("russia", "mercenaries", "denied")}),
    ("Egypt supplied armoured vehicles to Haftar's forces, the panel found. Egyptian jets also "
     "bombed positions of the GNA near Sirte. Cairo called the reports fabrications.", "en",
     {("egypt", "weapons", "asserted"), ("egypt", "strikes", "asserted"),
      ("egypt", "strikes", "denied")}),
    # a denial of any involvement answers every claim about the denier, and only the denier's
    ("Emirati drones struck Misrata, a UN report said. The report added that the UAE financed "
     "the Wagner deployment near Sirte. Abu Dhabi denied any involvement.", "en",
     {("uae", "strikes", "asserted"), ("uae", "funding", "asserted"),
      ("russia", "mercenaries", "asserted"), ("uae", "strikes", "denied"),
      ("uae", "funding", "denied")}),
    # a Libyan side rejecting "the reports" answers the foreign claim about it
    ("Hundreds of Wagner mercenaries are fighting alongside the Libyan National Army near "
     "Tripoli, diplomats said. A spokesman for the LNA dismissed the reports as propaganda.",
     "en", {("russia", "mercenaries", "asserted"), ("russia", "mercenaries", "denied")}),
    ("Des mercenaires du groupe Wagner combattent aux côtés des forces du maréchal Haftar, "
     "selon l'ONU. Moscou a démenti ces informations.", "fr",
     {("russia", "mercenaries", "asserted"), ("russia", "mercenaries", "denied")}),
    ("Российские самолеты доставили оружие ЛНА в Ливии, сообщили источники. "
     "В Кремле назвали эти сообщения ложью.", "ru",
     {("russia", "weapons", "asserted"), ("russia", "weapons", "denied")}),
])
def test_a_denial_in_general_words_answers_the_nearest_claims(text, language, expected):
    assert triples(text, language) == expected


def test_a_denial_does_not_answer_what_its_own_sentence_admits_after_it():
    text = ("Ankara flew Syrian fighters to Tripoli, a monitoring group said. The Turkish "
            "foreign ministry rejected the reports, saying Turkey had sent only military "
            "advisers.")
    assert triples(text) == {("turkey", "mercenaries", "asserted"),
                             ("turkey", "mercenaries", "denied"),
                             ("turkey", "troops", "asserted")}


def test_a_libyan_rejection_of_something_else_is_no_denial():
    text = ("Turkey deployed drones to Mitiga airport, according to flight data. "
            "Haftar rejected the ceasefire proposal on Monday.")
    assert triples(text) == {("turkey", "weapons", "asserted")}


# --- involvement in another theatre ----------------------------------------------------------


@pytest.mark.parametrize(("text", "language"), [
    ("Wagner mercenaries fought for Haftar in Libya, diplomats said. In Mali, the army's "
     "Russian partners were accused of killing civilians, a charge Moscow rejected as fake.",
     "en"),
    ("Wagner mercenaries fought for Haftar in Libya before the group moved to Mali, where the "
     "army accused its fighters of killings, and Moscow rejected the accusations as fake.", "en"),
    ("Moscow rejected the accusations of killings in Mali, where Africa Corps replaced Wagner, "
     "whose mercenaries had earlier fought for Haftar in Libya.", "en"),
    ("Африканский корпус сменил «Вагнер» в Мали. Ранее наемники «Вагнера» воевали в Ливии на "
     "стороне Хафтара. Малийские власти обвинили российских военных в казнях, в Кремле "
     "назвали это фейком.", "ru"),
])
def test_a_denial_about_another_theatre_does_not_deny_the_libya_claim(text, language):
    assert triples(text, language) == {("russia", "mercenaries", "asserted")}


# --- cue types ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "language", "expected"), [
    ("Turkish forces carried out air strikes on LNA positions near Sirte, the GNA said.", "en",
     ("turkey", "strikes", "asserted")),
    ("Egyptian warplanes flew dozens of sorties against Haftar's rivals west of Sirte, a "
     "monitor said.", "en", ("egypt", "strikes", "asserted")),
    ("Emirati pilots conducted bombing runs over Tripoli in support of Haftar, according to "
     "the panel.", "en", ("uae", "strikes", "asserted")),
    # pay for Libyan fighters funds a side; it is not the hire of mercenaries
    ("Qatar paid the salaries of Libyan militia fighters loyal to the GNA, according to two "
     "officials.", "en", ("qatar", "funding", "asserted")),
    ("The UAE gave money to armed groups in Benghazi that fought for Haftar, the report said.",
     "en", ("uae", "funding", "asserted")),
    # recognition, an embassy reopened, a visit to press support: political
    ("Syria recognised the eastern government of Libya and reopened its embassy in Benghazi.",
     "en", ("syria", "political", "asserted")),
    ("Russia's foreign minister flew to Benghazi to press support for Haftar.", "en",
     ("russia", "political", "asserted")),
    ("La Syrie a rouvert son ambassade à Benghazi, reconnaissant de fait le gouvernement de "
     "l'Est libyen.", "fr", ("syria", "political", "asserted")),
    # cargo flights, equipment airlifted or deployed, aircraft seen at a base: weapons
    ("Russian military cargo flights landed at al-Khadim air base, satellite images showed.",
     "en", ("russia", "weapons", "asserted")),
    ("Turkey airlifted military equipment to Mitiga airport for the GNA, according to flight "
     "data.", "en", ("turkey", "weapons", "asserted")),
    ("Egyptian jets were seen at an air base in eastern Libya used by Haftar's forces, "
     "according to satellite imagery.", "en", ("egypt", "weapons", "asserted")),
    # «военные самолеты»: the adjective of a weapon, not personnel
    ("Российские военные самолеты доставили оружие ЛНА в Ливии, сообщили источники.", "ru",
     ("russia", "weapons", "asserted")),
])
def test_cue_types(text, language, expected):
    assert triples(text, language) == {expected}


@pytest.mark.parametrize("text", [
    "An Egyptian army field hospital and a military medical team arrived in Derna after the "
    "floods.",
    "Turkish military rescue units were dispatched to help flood victims in eastern Libya.",
])
def test_military_units_sent_for_relief_are_not_troops(text):
    assert triples(text) == set()
