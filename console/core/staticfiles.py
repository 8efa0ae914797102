"""Static files storage for production: hashed names, compressed copies (whitenoise)."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class ConsoleStaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Like whitenoise's, but a vendored file pointing at a source map that is not shipped
    (common in third-party CSS/JS) does not fail collectstatic. Any other missing file still does."""

    def url_converter(self, name, hashed_files, *args, **kwargs):
        convert = super().url_converter(name, hashed_files, *args, **kwargs)

        def converter(matchobj):
            try:
                return convert(matchobj)
            except ValueError:
                if matchobj["url"].strip().split("?")[0].split("#")[0].endswith(".map"):
                    return matchobj["matched"]
                raise

        return converter
