"""`streamlit run app.py` in a checkout: the dashboard, whose router is workbench/app/main.py (`workbench serve`
runs the same router from the installed package)."""

from workbench.app.main import main

main()
