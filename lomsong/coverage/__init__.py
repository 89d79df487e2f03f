"""Pure computation: arrays and dataclasses in, arrays out. No file, HTTP or map code here."""
