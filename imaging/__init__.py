"""The regional index (the `imaging` app) and everything that reads or writes DICOM.

One concept per subpackage, each naming its public names in its `__init__`:

- `imaging.dicom`: DICOM read as the standard lays it out (headers, reports,
  frames, DIMSE's numbers), with no Django;
- `imaging.ingest`: the one funnel every object enters by, `ingest_instance`;
- `imaging.listener`: the C-STORE SCP, from PDUs to the services behind them;
- `imaging.dicomweb`: STOW-RS, QIDO-RS and WADO-RS;
- `imaging.rendering`: display pixels, the renders kept, their tasks and views.

At the root: the index's models, `access` (what a requester may see),
`storage`, `tokens`, `downloads`, `synthetic` and `demo`. docs/architecture.md
draws the arrows between them.
"""
