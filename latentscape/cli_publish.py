"""`latentscape publish DATA --name N --version V --to DEST ...`: an immutable, citable release."""
from __future__ import annotations

import click


@click.command()
@click.argument("data", type=click.Path())
@click.option("--name", required=True, help="Release name (lower-case, e.g. tdwlike).")
@click.option("--version", "version", required=True, help="Semantic version, e.g. 1.2.0.")
@click.option("--to", "dest", required=True,
              help="A folder, an fsspec URL (s3://bucket/prefix, file://...), or 'zenodo'.")
@click.option("--license", "license_", help="SPDX licence id of the release (required), e.g. CC-BY-4.0.")
@click.option("--creator", "creators", multiple=True, help="A creator, \"Family, Given\" (required; repeat for more).")
@click.option("--title", default="", help="Title (default latentscape-NAME).")
@click.option("--description", default="", help="One paragraph for the card and the metadata.")
@click.option("--zenodo-url", default="https://zenodo.org", show_default=True,
              help="Zenodo instance (with --to zenodo; token in $ZENODO_TOKEN).")
@click.option("--zenodo-previous", type=int, help="Deposition id of the previous version (same concept DOI).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def publish(data, name, version, dest, license_, creators, title, description, zenodo_url, zenodo_previous, quiet):
    """Publish DATA as version VERSION of release NAME at DEST (verified first; immutable)."""
    from pathlib import Path

    from latentscape.publish.info import PublishError, ReleaseInfo
    info = ReleaseInfo(name=name, version=version, license=license_ or "", creators=tuple(creators), title=title,
                       description=description)
    if not Path(data, "dataset.json").is_file():
        raise PublishError(f"{data} is not a dataset root (no dataset.json)")
    if dest == "zenodo":
        from latentscape.publish.zenodo import publish_zenodo
        r = publish_zenodo(data, info, zenodo_url, zenodo_previous, progress=not quiet)
    else:
        if zenodo_previous is not None:
            raise click.UsageError("--zenodo-previous applies to --to zenodo only")
        from latentscape.publish.targets import publish_release
        r = publish_release(data, info, dest, progress=not quiet)
    click.echo(r.line())
