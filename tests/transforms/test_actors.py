"""Actor tagging against the guidelines (section 2), the gazetteer's rules, and TagActors."""

from pathlib import Path

import apache_beam as beam
import pytest
import yaml
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms import actors as actors_module
from transforms.actors import (
    Gazetteer,
    GazetteerError,
    TagActors,
    find_actor_mentions,
    load_gazetteer,
    tag_actors,
)
from transforms.model import Actor, ActorMention, Article

CASES_FILE = Path(__file__).parents[1] / "data" / "actor_cases.yaml"
CASES = yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))
GAZETTEER_FILE = Path(actors_module.__file__).parent / "data" / "actors.yaml"

# The guidelines' table: id -> (type, country).
CORE = {
    "russia": ("state", "russia"), "turkey": ("state", "turkey"), "uae": ("state", "uae"),
    "egypt": ("state", "egypt"), "syria": ("state", "syria"), "sudan": ("state", "sudan"),
    "chad": ("state", "chad"), "qatar": ("state", "qatar"), "france": ("state", "france"),
    "italy": ("state", "italy"), "usa": ("state", "usa"),
    "un": ("organisation", None), "eu": ("organisation", None),
    "lna": ("armed_force", "libya"), "gna": ("government", "libya"),
    "gnu": ("government", "libya"), "wagner_group": ("pmc", "russia"),
    "africa_corps": ("armed_force", "russia"), "rsf": ("armed_force", "sudan"),
    "isis": ("armed_group", None),
    "khalifa_haftar": ("person", "libya"), "saddam_haftar": ("person", "libya"),
    "vladimir_putin": ("person", "russia"), "recep_tayyip_erdogan": ("person", "turkey"),
    "yevgeny_prigozhin": ("person", "russia"), "muammar_gaddafi": ("person", "libya"),
    "abdul_hamid_dbeibah": ("person", "libya"), "fayez_al_sarraj": ("person", "libya"),
    "bashar_al_assad": ("person", "syria"), "abdel_fattah_al_sisi": ("person", "egypt"),
}
CUE_KINDS = {"name", "abbreviation", "variant", "transliteration", "demonym", "capital", "organ",
             "Russian case endings", "Arabic clitics", "implied lna", "homonym", "person"}


def core_ids(title: str, text: str) -> set[str]:
    return set(tag_actors(title, text)[1]) & set(CORE)


# --- the labelled cases ------------------------------------------------------------------


def test_cases_are_well_formed():
    assert len({case["id"] for case in CASES}) == len(CASES)
    assert CUE_KINDS <= {case["kind"] for case in CASES}
    assert {case["id"][:2] for case in CASES} >= {"en", "fr", "ar", "ru"}
    for case in CASES:
        assert ("ids" in case) != ("has" in case or "lacks" in case), case["id"]
        assert set(case.get("ids", [])) <= set(CORE), case["id"]


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_case_follows_the_guidelines(case):
    found = core_ids(case.get("title", ""), case["text"])
    if "ids" in case:
        assert found == set(case["ids"])
    assert set(case.get("has", [])) <= found
    assert not set(case.get("lacks", [])) & found


def test_seeds_give_the_sets_derived_by_the_guidelines():
    seeds = {case["id"]: case for case in CASES if case["kind"] == "seed"}
    assert core_ids("", seeds["seed-000"]["text"]) == {
        "russia", "khalifa_haftar", "un", "muammar_gaddafi", "lna", "isis", "syria"}
    assert core_ids("", seeds["seed-003"]["text"]) == {
        "russia", "syria", "khalifa_haftar", "wagner_group", "turkey", "gna", "egypt", "uae",
        "recep_tayyip_erdogan", "un", "vladimir_putin", "lna", "bashar_al_assad"}


# --- single rules ---------------------------------------------------------------------------


def test_person_implies_only_the_person():
    assert core_ids("", "Putin said so.") == {"vladimir_putin"}
    assert core_ids("", "Russian President Vladimir Putin said so.") == {"vladimir_putin", "russia"}
    assert core_ids("", "Erdogan said so.") == {"recep_tayyip_erdogan"}
    assert core_ids("", "Egyptian President Abdel Fattah al-Sisi") == {"abdel_fattah_al_sisi", "egypt"}


def test_saddam_haftar_is_not_khalifa_haftar():
    assert core_ids("", "Saddam Haftar met Italian officials.") == {"saddam_haftar", "italy"}


def test_implied_lna_mention_spans_the_construction():
    text = "Haftar's forces and forces loyal to Khalifa Haftar"
    mentions = find_actor_mentions(text)
    assert [(m.actor_id, m.surface) for m in mentions] == [
        ("khalifa_haftar", "Haftar"),
        ("lna", "Haftar's forces"),
        ("lna", "forces loyal to Khalifa Haftar"),
        ("khalifa_haftar", "Khalifa Haftar"),
    ]


def test_lower_case_turkey_is_never_the_state():
    assert core_ids("", "The turkey in Libya was delicious.") == set()
    assert core_ids("", "Turkey sent troops to Libya.") == {"turkey"}


def test_a_doubtful_form_counts_when_a_firm_form_names_the_actor():
    # Bare "Wagner" needs a security or Libya cue, or a firm form such as "Wagner Group".
    assert core_ids("", "Wagner sent more men.") == set()
    assert core_ids("", "Wagner sent more men, the Wagner Group said.") == {"wagner_group"}
    assert core_ids("", "Wagner sent more mercenaries.") == {"wagner_group"}


def test_a_homonym_shadows_the_actor_in_the_whole_text():
    # Far from the basketball words, "Wagner" beside "troops" would count on its own.
    later = " The arena was full and the crowd sang for a long time before the doors closed."
    assert core_ids("", "Later, Wagner joked about the troops.") == {"wagner_group"}
    text = "Franz Wagner starred." + later * 2 + " Later, Wagner joked about the troops."
    assert core_ids("", text) == set()


def test_gna_acronym_needs_a_libya_cue():
    assert core_ids("", "The GNA reported from Accra.") == set()
    assert core_ids("", "The GNA said Tripoli was calm.") == {"gna"}


def test_government_seats_read_together_when_coordinated():
    assert core_ids("", "tensions between Rome and Paris") == {"italy", "france"}
    assert core_ids("", "a summit in Rome and Paris") == set()


# --- find_actor_mentions and tag_actors ------------------------------------------------------


def test_mentions_carry_offsets_into_the_text():
    text = "Le groupe Wagner et la Russie; روسيا; в России."
    mentions = find_actor_mentions(text)
    assert all(text[m.start:m.end] == m.surface for m in mentions)
    assert [(m.actor_id, m.surface) for m in mentions] == [
        ("wagner_group", "groupe Wagner"), ("russia", "Russie"), ("russia", "روسيا"),
        ("russia", "России")]
    assert all(isinstance(m, ActorMention) for m in mentions)


def test_mentions_are_in_text_order():
    mentions = find_actor_mentions("Turkey, then Egypt, then the UN, then Turkey again.")
    assert [m.start for m in mentions] == sorted(m.start for m in mentions)
    assert [m.actor_id for m in mentions] == ["turkey", "egypt", "un", "turkey"]


def test_empty_and_actorless_texts():
    assert find_actor_mentions("") == []
    assert find_actor_mentions("Stocks rose on Tuesday.") == []
    assert tag_actors("", "") == ([], [])


def test_tag_actors_document_fields():
    actors, actor_ids = tag_actors(
        "Turkey sends drones to Libya", "Turkish drones and Turkey's advisers. Putin said nothing.")
    assert actor_ids == ["turkey", "vladimir_putin"]
    assert actors == [
        {"id": "turkey", "name": "Turkey", "type": "state", "country": "turkey", "mentions": 3,
         "surfaces": ["Turkey", "Turkish"]},
        {"id": "vladimir_putin", "name": "Vladimir Putin", "type": "person", "country": "russia",
         "mentions": 1, "surfaces": ["Putin"]},
    ]


def test_title_and_text_are_tagged_together():
    # "Wagner" in the title needs the cue that only the text gives.
    assert core_ids("Wagner moves in", "Mercenaries arrived in Libya.") == {"wagner_group"}
    assert core_ids("Wagner moves in", "The opera season opened.") == set()


# --- the gazetteer -----------------------------------------------------------------------------


def test_gazetteer_holds_every_core_id_with_its_type_and_allegiance():
    actors = load_gazetteer().actors
    for actor_id, (actor_type, country) in CORE.items():
        actor = actors[actor_id]
        assert isinstance(actor, Actor)
        assert (actor.id, actor.type, actor.country) == (actor_id, actor_type, country)


def test_extra_actors_answer_to_states():
    actors = load_gazetteer().actors
    assert actors["rsb_group"].country == "russia"
    assert actors["sadat"].country == "turkey"
    assert actors["saif_al_islam_gaddafi"].type == "person"


def test_default_gazetteer_is_loaded_once():
    assert load_gazetteer() is load_gazetteer()
    assert isinstance(load_gazetteer(), Gazetteer)


def test_gazetteer_from_path(tmp_path):
    path = tmp_path / "actors.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    gazetteer = load_gazetteer(path)
    assert list(gazetteer.actors) == ["russia", "wagner_group"]
    assert tag_actors("", "Russia and Wagner mercenaries", gazetteer)[1] == ["russia", "wagner_group"]
    assert tag_actors("", "Richard Wagner", gazetteer)[1] == []


MINIMAL = """
types: [state, pmc]
settings:
  near_chars: 50
  support: [security]
  datelines_count: false
  not_surnames: []
  seat_cues: {skip_before: [], location_before: [in], location_after: [],
              government_after_location: [], government_before: [], government_after: [has],
              relative: [], coordinators: [and]}
contexts:
  security: [mercenaries]
actors:
  - {id: russia, name: Russia, type: state, country: russia, forms: {en: [Russia]}}
  - id: wagner_group
    name: Wagner Group
    type: pmc
    country: russia
    forms: {en: [{surface: Wagner, needs_support: true}]}
homonyms:
  - {of: wagner_group, forms: [Richard Wagner]}
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("types: [state, pmc]", "types: [state]"),
         "actors[1] (wagner_group): 'type' must be one of ['state']"),
        (("country: russia, forms", "country: Russia!, forms"),
         "actors[0] (russia): 'country' must be an id or null"),
        (("{surface: Wagner, needs_support: true}", "{surface: Wagner, needs_support: [music]}"),
         "actors[1] (wagner_group).forms.en[0].needs_support: unknown context group(s) ['music']"),
        (("{surface: Wagner, needs_support: true}", "{surface: Wagner, colour: red}"),
         "actors[1] (wagner_group).forms.en[0]: unknown field(s) ['colour']"),
        (("{surface: Wagner, needs_support: true}", "{surface: '  '}"),
         "actors[1] (wagner_group).forms.en[0]: 'surface' must be a non-empty string"),
        (("forms: {en: [Russia]}", "forms: {en: [Russia, Wagner]}"),
         "actors[1] (wagner_group).forms.en[0]: 'Wagner' is already a form of russia "
         "(actors[0] (russia).forms.en[1])"),
        (("{of: wagner_group,", "{of: wagner,"),
         "homonyms[0]: 'of' must be an actor id, got 'wagner'"),
        (("not_surnames: []", "not_surnames: [On]"),
         "settings.not_surnames[0]: expected a string, got True"),
        (("near_chars: 50", "near_chars: -1"),
         "settings.near_chars: expected a non-negative integer"),
        (("id: wagner_group", "id: russia"), "actors[1] (russia): duplicate id"),
        (("{id: russia, name: Russia,", "{id: russia, name: Russia, also: x,"),
         "actors[0] (russia): unknown field(s) ['also']"),
    ],
)
def test_bad_gazetteer_gives_one_line_error_naming_the_place(tmp_path, change, message):
    old, new = change
    assert old in MINIMAL
    path = tmp_path / "actors.yaml"
    path.write_text(MINIMAL.replace(old, new), encoding="utf-8")
    with pytest.raises(GazetteerError) as caught:
        load_gazetteer(path)
    error = str(caught.value)
    assert error.startswith(f"{path}: ")
    assert message in error
    assert "\n" not in error


def test_unreadable_and_invalid_gazetteer_files(tmp_path):
    with pytest.raises(GazetteerError, match="cannot read"):
        load_gazetteer(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("actors: [\n", encoding="utf-8")
    with pytest.raises(GazetteerError, match="invalid YAML") as caught:
        load_gazetteer(broken)
    assert "\n" not in str(caught.value)


def test_unknown_also_target_is_an_error(tmp_path):
    path = tmp_path / "actors.yaml"
    path.write_text(MINIMAL.replace("forms: {en: [Russia]}",
                                    "forms: {en: [{surface: Russia, also: [kremlin]}]}"),
                    encoding="utf-8")
    with pytest.raises(GazetteerError, match=r"forms.en\[0\]: unknown actor id 'kremlin'"):
        load_gazetteer(path)


# --- the transform -------------------------------------------------------------------------------


def article(article_id: str, title: str, text: str) -> Article:
    return Article(
        id=article_id, url=None, title=title, text=text, published="2020-06-07T00:00:00Z",
        published_source="input", language="en", language_source="input", outlet=None,
        content_hash="", extra={"kept": True},
    )


def _counter(result, name: str) -> int:
    query = MetricsFilter().with_namespace("libya_watch").with_name(name)
    return sum(counter.committed for counter in result.metrics().query(query)["counters"])


def test_tag_actors_transform_sets_the_document_fields():
    inputs = [article("a", "Haftar's forces advance", "Turkey sent drones."),
              article("b", "Markets", "Stocks rose.")]
    pipeline = test_pipeline.TestPipeline()
    tagged = pipeline | beam.Create(inputs) | TagActors()
    assert_that(
        tagged | beam.Map(lambda item: (item.id, item.extra["actor_ids"], item.extra["kept"])),
        equal_to([("a", ["khalifa_haftar", "lna", "turkey"], True), ("b", [], True)]),
        label="ids")
    expected_actors, _ = tag_actors(inputs[0].title, inputs[0].text)
    assert_that(
        tagged | beam.Map(lambda item: (item.id, item.extra["actors"])),
        equal_to([("a", expected_actors), ("b", [])]),
        label="actors")
    result = pipeline.run()
    result.wait_until_finish()
    assert _counter(result, "actors_tagged") == 2
    assert _counter(result, "actors_us") > 0


def test_tag_actors_transform_checks_the_gazetteer_when_built(tmp_path):
    with pytest.raises(GazetteerError, match="cannot read"):
        TagActors(gazetteer_path=str(tmp_path / "missing.yaml"))
