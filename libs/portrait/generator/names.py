"""Lookup lists for personal data: Chinese names with pinyin, mobile prefixes, mail domains."""

from __future__ import annotations

# (surname, pinyin, weight) — the most common surnames, roughly by frequency.
SURNAMES = (
    ("王", "wang", 10), ("李", "li", 10), ("张", "zhang", 9), ("刘", "liu", 7), ("陈", "chen", 6),
    ("杨", "yang", 4), ("黄", "huang", 3), ("赵", "zhao", 3), ("吴", "wu", 3), ("周", "zhou", 3),
    ("徐", "xu", 2), ("孙", "sun", 2), ("马", "ma", 2), ("朱", "zhu", 2), ("胡", "hu", 2),
    ("郭", "guo", 2), ("何", "he", 2), ("高", "gao", 2), ("林", "lin", 2), ("罗", "luo", 2),
    ("郑", "zheng", 1), ("梁", "liang", 1), ("谢", "xie", 1), ("宋", "song", 1), ("唐", "tang", 1),
    ("许", "xu", 1), ("韩", "han", 1), ("冯", "feng", 1), ("邓", "deng", 1), ("曹", "cao", 1),
    ("彭", "peng", 1), ("曾", "zeng", 1), ("肖", "xiao", 1), ("田", "tian", 1), ("董", "dong", 1),
    ("袁", "yuan", 1), ("潘", "pan", 1), ("蒋", "jiang", 1), ("蔡", "cai", 1), ("余", "yu", 1),
)
SURNAME_CHARS = tuple(s[0] for s in SURNAMES)
SURNAME_PINYIN = tuple(s[1] for s in SURNAMES)
SURNAME_WEIGHTS = tuple(float(s[2]) for s in SURNAMES)

# Given-name characters with pinyin; names draw one or two of them.
GIVEN_MALE = (
    ("伟", "wei"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"), ("勇", "yong"),
    ("杰", "jie"), ("涛", "tao"), ("明", "ming"), ("超", "chao"), ("浩", "hao"), ("鹏", "peng"),
    ("宇", "yu"), ("晨", "chen"), ("俊", "jun"), ("博", "bo"), ("子", "zi"), ("轩", "xuan"),
    ("志", "zhi"), ("文", "wen"), ("建", "jian"), ("斌", "bin"), ("凯", "kai"), ("峰", "feng"),
)
GIVEN_FEMALE = (
    ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"), ("艳", "yan"),
    ("婷", "ting"), ("雪", "xue"), ("慧", "hui"), ("琳", "lin"), ("欣", "xin"), ("怡", "yi"),
    ("佳", "jia"), ("梦", "meng"), ("雨", "yu"), ("萱", "xuan"), ("颖", "ying"), ("倩", "qian"),
    ("晓", "xiao"), ("文", "wen"), ("玉", "yu"), ("燕", "yan"), ("月", "yue"), ("思", "si"),
)
GIVEN_MALE_CHARS = tuple(g[0] for g in GIVEN_MALE)
GIVEN_MALE_PINYIN = tuple(g[1] for g in GIVEN_MALE)
GIVEN_FEMALE_CHARS = tuple(g[0] for g in GIVEN_FEMALE)
GIVEN_FEMALE_PINYIN = tuple(g[1] for g in GIVEN_FEMALE)

# First three digits of Chinese mobile numbers.
MOBILE_PREFIXES = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
    "155", "156", "157", "158", "159", "166", "170", "176", "177", "178", "180", "181",
    "182", "183", "185", "186", "187", "188", "189", "191", "198", "199",
)

EMAIL_DOMAINS = ("qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "sina.com",
                 "foxmail.com", "hotmail.com", "yahoo.com", "icloud.com")
EMAIL_DOMAIN_WEIGHTS = (10.0, 8.0, 4.0, 3.0, 2.0, 2.0, 2.0, 1.0, 1.0, 2.0)

# Nickname words for e-mail local parts and WeChat ids.
NICKNAMES = ("sunny", "happy", "lucky", "coco", "momo", "tiger", "panda", "kiki", "leo", "max",
             "xiaobai", "dabao", "candy", "mango", "peach", "cloud", "star", "moon", "river",
             "nana", "vivi", "jerry", "tony", "amy", "lily", "kevin", "jack", "rain", "echo")
