"""Python components the manifest names where it uses them (`type: Custom...`, `class_name:`), one concern per module."""
