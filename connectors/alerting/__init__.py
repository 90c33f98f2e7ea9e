"""Alerts: rules as data, matched by Elasticsearch, recorded once, sent by notifiers.

    model.py     the `Alert` value and its id
    schema.py    the JSON-Schema-like checker the rules and notifiers use
    rules.py     the rules file (rules and notifiers), checked against a schema
    matching.py  one `_msearch`: each rule over the story heads of the runs owing alerts
    store.py     `<alias>-alerts`: create-once alerts, per-notifier delivery state
    delivery.py  the alert step of a pass: match, record, deliver what is pending
    dryrun.py    which rules would fire on some documents, in a throw-away index

Import from the modules; the package itself imports nothing, so that the
notifiers (which use `model` and `schema`) and `rules` (which uses the
notifier registry) do not import each other through it.
"""
