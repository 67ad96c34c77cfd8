"""Relational store: tables, repositories, migrations."""
