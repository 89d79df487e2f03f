"""lomsong: computable, repeatable maps of mobile-coverage gaps ("lõm sóng")."""

__version__ = "0.1.0"
