"""The manifest language and its checks.

A manifest (YAML, one per operation) declares an operation's configuration fields, actions,
options and mapping tables. This package owns reading it: the JSON Schema and the checks that
span fields (:mod:`.document`), the fields and their roles (:mod:`.fields`), conditions on
other fields' values (:mod:`.conditions`), the mapping table as declared (:mod:`.mapping_table`),
its path language (:mod:`.feedpath`), its type tables (:mod:`.typetable`) and its named value
transforms (:mod:`.transforms`), the verdict rules (:mod:`.verdict_rules`) and how the
attributes read (:mod:`.attribute_reading`); the YAML reader that names every repeated key
(:mod:`.yamldoc`), and the checks an operation needs that need no code (:mod:`.checks`, run by
``tqops validate FILE`` and when an operation loads). It never sends a request and never
imports an operation.
"""
