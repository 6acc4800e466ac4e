"""The storage of static files in production: hashed names, compressed copies, module imports.

The viewer is ES modules loaded without a bundler (static/js/viewer/, entry
`main.js`). Django's manifest storage gives every file a name with a hash of its
content, which WhiteNoise serves as immutable for ten years; it rewrites
`import ... from "./x.js"` to the hashed name only with
`support_js_module_import_aggregation`. Without it the hashed entry module
would import the unhashed modules, cached for a minute only, and for that
minute after a deploy a new entry could run beside old modules.

A module's hash covers the hashed names of its imports, so collectstatic may
need a pass over the files for each level of the import graph, depending on
the order it finds them in (main.js is ten levels deep), and one more to see
that nothing changed. Django's default of five passes is too few for an unlucky
order; an import cycle never settles and fails collectstatic ("Max post-process
passes exceeded").
"""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class ManifestStaticFilesStorage(CompressedManifestStaticFilesStorage):
    """WhiteNoise's compressed manifest storage, rewriting JavaScript module imports too."""

    support_js_module_import_aggregation = True
    max_post_process_passes = 20
