from source_contacts.source import SourceContacts

__all__ = ["SourceContacts"]
