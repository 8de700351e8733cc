"""The run explorer's pages (streamlit_app.py is the entry point): one module a page, and common.py."""


