"""Tests of landscape.curves (a package: its module names repeat those of other test folders)."""
