"""Data layer: the Parquet row schema, readers, validation, the phantom generator and converters."""
