"""The portal's date formats (settings.FORMAT_MODULE_PATH): one way to write a date in each language.

Django's own formats have a long and a short style (2026年1月5日 and 2026/01/05,
Jan. 5, 2026 and 01/05/2026); pages that used both showed a patient two styles.
Here the short formats are the long ones, so every template writes dates alike
whichever it names. What is not set here is Django's.
"""
