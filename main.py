"""Docker entrypoint: the same verbs as the `source-contacts` console script."""

from source_contacts.run import run

if __name__ == "__main__":
    run()
