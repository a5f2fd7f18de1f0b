"""What TechStore sells: product lines of brands sold in Vietnam, with list prices in VND.

Each line is (brand, name, base price) and its category's variants (storage, memory, size,
colour) multiply it into products, each variant adding to the base price. Prices follow Vietnamese
retailers' 2024 list prices to within the spread a shop's own pricing would have.
"""

from __future__ import annotations

Variant = tuple[str, int]
Line = tuple[str, str, int]

_LAPTOP = [("i5 8GB RAM", 0), ("i5 16GB RAM", 1_500_000), ("i7 16GB RAM", 4_500_000)]
_RYZEN = [("Ryzen 5 8GB RAM", 0), ("Ryzen 5 16GB RAM", 1_400_000), ("Ryzen 7 16GB RAM", 4_000_000)]
_MAC = [("8GB 256GB", 0), ("16GB 512GB", 10_000_000)]
_PHONE = [("128GB", 0), ("256GB", 3_000_000), ("512GB", 8_000_000)]
_BUDGET_PHONE = [("4GB 128GB", 0), ("8GB 256GB", 1_200_000)]
_TABLET = [("WiFi 64GB", 0), ("WiFi 256GB", 4_000_000), ("5G 256GB", 7_500_000)]
_ANDROID_TABLET = [("WiFi 128GB", 0), ("LTE 128GB", 1_500_000)]
_COLOURS = [("Đen", 0), ("Trắng", 0), ("Xanh", 100_000)]
_WATCH = [("40mm", 0), ("44mm", 800_000)]
_APPLE_WATCH = [("41mm GPS", 0), ("45mm GPS", 800_000), ("45mm GPS + Cellular", 3_000_000)]
_MONITOR = [("24 inch", 0), ("27 inch", 1_800_000)]
_SINGLE = [("", 0)]
_CAMERA = [("Body", 0), ("Kit 18-55mm", 3_500_000)]
_STORAGE = [("500GB", 0), ("1TB", 900_000), ("2TB", 2_600_000)]
_RAM = [("16GB", 0), ("32GB", 1_300_000)]

Group = tuple[list[Line], list[Variant]]

#: Category -> groups of product lines that share their variants.
CATALOG_LINES: dict[str, list[Group]] = {
    "laptops": [
        (
            [
                ("ASUS", "Laptop ASUS TUF Gaming", 19_490_000),
                ("ASUS", "Laptop ASUS Vivobook 15", 12_990_000),
                ("ASUS", "Laptop ASUS Zenbook 14 OLED", 21_990_000),
                ("Acer", "Laptop Acer Nitro 5", 18_990_000),
                ("Acer", "Laptop Acer Aspire 7", 15_490_000),
                ("Acer", "Laptop Acer Swift Go 14", 17_990_000),
                ("Lenovo", "Laptop Lenovo IdeaPad Slim 5", 15_990_000),
                ("Lenovo", "Laptop Lenovo ThinkPad E14", 18_490_000),
                ("Dell", "Laptop Dell Inspiron 15 3520", 13_990_000),
                ("Dell", "Laptop Dell Vostro 3430", 13_490_000),
                ("Dell", "Laptop Dell XPS 13 9340", 36_990_000),
                ("HP", "Laptop HP Pavilion 15", 15_990_000),
                ("HP", "Laptop HP Victus 16", 19_990_000),
                ("MSI", "Laptop MSI Katana 15", 20_990_000),
                ("MSI", "Laptop MSI Modern 14", 11_990_000),
            ],
            _LAPTOP,
        ),
        (
            [
                ("Lenovo", "Laptop Lenovo Legion 5", 26_990_000),
                ("ASUS", "Laptop ASUS ROG Strix G16", 29_990_000),
                ("HP", "Laptop HP 15s", 11_490_000),
                ("Acer", "Laptop Acer Aspire 3", 10_490_000),
            ],
            _RYZEN,
        ),
        (
            [
                ("Apple", "MacBook Air 13 M2", 24_490_000),
                ("Apple", "MacBook Air 13 M3", 27_990_000),
                ("Apple", "MacBook Air 15 M3", 32_490_000),
                ("Apple", "MacBook Pro 14 M3", 39_990_000),
            ],
            _MAC,
        ),
    ],
    "phones": [
        (
            [
                ("Apple", "Điện thoại iPhone 13", 13_490_000),
                ("Apple", "Điện thoại iPhone 14", 17_490_000),
                ("Apple", "Điện thoại iPhone 15", 19_990_000),
                ("Apple", "Điện thoại iPhone 15 Plus", 22_490_000),
                ("Apple", "Điện thoại iPhone 15 Pro", 25_990_000),
                ("Apple", "Điện thoại iPhone 15 Pro Max", 29_490_000),
                ("Samsung", "Điện thoại Samsung Galaxy S24", 20_990_000),
                ("Samsung", "Điện thoại Samsung Galaxy S24 Ultra", 29_990_000),
                ("Samsung", "Điện thoại Samsung Galaxy Z Flip5", 21_990_000),
                ("Samsung", "Điện thoại Samsung Galaxy Z Fold5", 36_990_000),
                ("Xiaomi", "Điện thoại Xiaomi 14", 21_490_000),
                ("OPPO", "Điện thoại OPPO Find N3 Flip", 22_990_000),
            ],
            _PHONE,
        ),
        (
            [
                ("Samsung", "Điện thoại Samsung Galaxy A15", 4_990_000),
                ("Samsung", "Điện thoại Samsung Galaxy A25 5G", 6_490_000),
                ("Samsung", "Điện thoại Samsung Galaxy A35 5G", 8_290_000),
                ("Samsung", "Điện thoại Samsung Galaxy A55 5G", 9_990_000),
                ("Xiaomi", "Điện thoại Xiaomi Redmi Note 13", 4_890_000),
                ("Xiaomi", "Điện thoại Xiaomi Redmi Note 13 Pro", 7_290_000),
                ("Xiaomi", "Điện thoại Xiaomi Redmi 13C", 3_090_000),
                ("OPPO", "Điện thoại OPPO A58", 4_690_000),
                ("OPPO", "Điện thoại OPPO Reno11 5G", 10_490_000),
                ("vivo", "Điện thoại vivo Y17s", 3_990_000),
                ("vivo", "Điện thoại vivo V29e 5G", 8_490_000),
                ("realme", "Điện thoại realme C67", 4_790_000),
                ("realme", "Điện thoại realme 11 Pro", 9_990_000),
                ("Nokia", "Điện thoại Nokia G22", 3_290_000),
                ("HONOR", "Điện thoại HONOR X9b 5G", 8_590_000),
            ],
            _BUDGET_PHONE,
        ),
    ],
    "tablets": [
        (
            [
                ("Apple", "Máy tính bảng iPad Gen 10", 9_990_000),
                ("Apple", "Máy tính bảng iPad Air 6 M2", 16_990_000),
                ("Apple", "Máy tính bảng iPad Pro 11 M4", 28_990_000),
                ("Apple", "Máy tính bảng iPad mini 6", 12_490_000),
            ],
            _TABLET,
        ),
        (
            [
                ("Samsung", "Máy tính bảng Samsung Galaxy Tab S9 FE", 9_990_000),
                ("Samsung", "Máy tính bảng Samsung Galaxy Tab S9", 18_990_000),
                ("Samsung", "Máy tính bảng Samsung Galaxy Tab A9+", 5_490_000),
                ("Xiaomi", "Máy tính bảng Xiaomi Pad 6", 8_490_000),
                ("Xiaomi", "Máy tính bảng Xiaomi Redmi Pad SE", 4_290_000),
                ("Lenovo", "Máy tính bảng Lenovo Tab M11", 5_190_000),
                ("OPPO", "Máy tính bảng OPPO Pad Air", 5_990_000),
            ],
            _ANDROID_TABLET,
        ),
    ],
    "audio": [
        (
            [
                ("Apple", "Tai nghe AirPods Pro 2 USB-C", 5_790_000),
                ("Apple", "Tai nghe AirPods 3", 4_090_000),
                ("Sony", "Tai nghe Bluetooth Sony WH-1000XM5", 7_490_000),
                ("Sony", "Tai nghe Bluetooth Sony WF-1000XM5", 5_990_000),
                ("Sony", "Tai nghe Bluetooth Sony WH-CH520", 1_190_000),
                ("Samsung", "Tai nghe Samsung Galaxy Buds2 Pro", 3_990_000),
                ("Samsung", "Tai nghe Samsung Galaxy Buds FE", 1_790_000),
                ("JBL", "Tai nghe Bluetooth JBL Tune 520BT", 1_190_000),
                ("JBL", "Tai nghe Bluetooth JBL Wave Buds", 1_090_000),
                ("JBL", "Loa Bluetooth JBL Charge 5", 3_990_000),
                ("JBL", "Loa Bluetooth JBL Flip 6", 2_790_000),
                ("JBL", "Loa Bluetooth JBL Go 3", 890_000),
                ("Marshall", "Loa Bluetooth Marshall Emberton II", 4_290_000),
                ("Marshall", "Tai nghe Marshall Major IV", 3_490_000),
                ("Sony", "Loa Bluetooth Sony SRS-XB13", 1_190_000),
                ("Anker", "Tai nghe Bluetooth Anker Soundcore Liberty 4 NC", 1_990_000),
                ("Xiaomi", "Tai nghe Bluetooth Xiaomi Redmi Buds 5", 790_000),
                ("Soundpeats", "Tai nghe Bluetooth Soundpeats Air3 Deluxe", 690_000),
            ],
            _COLOURS,
        ),
    ],
    "wearables": [
        (
            [
                ("Apple", "Đồng hồ Apple Watch SE 2023", 6_490_000),
                ("Apple", "Đồng hồ Apple Watch Series 9", 9_990_000),
            ],
            _APPLE_WATCH,
        ),
        (
            [
                ("Samsung", "Đồng hồ Samsung Galaxy Watch6", 5_990_000),
                ("Samsung", "Đồng hồ Samsung Galaxy Watch6 Classic", 8_490_000),
                ("Garmin", "Đồng hồ Garmin Forerunner 265", 10_990_000),
                ("Garmin", "Đồng hồ Garmin Venu Sq 2", 6_490_000),
                ("Huawei", "Đồng hồ Huawei Watch GT 4", 5_490_000),
                ("Amazfit", "Đồng hồ Amazfit GTR 4", 3_990_000),
                ("Xiaomi", "Đồng hồ Xiaomi Watch 2 Pro", 5_990_000),
            ],
            _WATCH,
        ),
        (
            [
                ("Xiaomi", "Vòng đeo tay Xiaomi Smart Band 8", 890_000),
                ("Huawei", "Vòng đeo tay Huawei Band 9", 1_090_000),
                ("Samsung", "Vòng đeo tay Samsung Galaxy Fit3", 1_190_000),
                ("Apple", "Đồng hồ Apple Watch Ultra 2", 21_990_000),
            ],
            _COLOURS,
        ),
    ],
    "monitors": [
        (
            [
                ("Dell", "Màn hình Dell UltraSharp U2424H", 5_990_000),
                ("Dell", "Màn hình Dell S2421HN", 3_290_000),
                ("LG", "Màn hình LG UltraGear 27GN800", 6_490_000),
                ("LG", "Màn hình LG 24MP400", 2_690_000),
                ("Samsung", "Màn hình Samsung Odyssey G5", 6_990_000),
                ("Samsung", "Màn hình Samsung ViewFinity S6", 7_490_000),
                ("ASUS", "Màn hình ASUS TUF Gaming VG249Q1A", 3_990_000),
                ("ASUS", "Màn hình ASUS ProArt PA248QV", 5_490_000),
                ("ViewSonic", "Màn hình ViewSonic VX2479-HD-PRO", 3_490_000),
                ("AOC", "Màn hình AOC 24G2SP", 3_790_000),
                ("MSI", "Màn hình MSI G2412", 3_190_000),
                ("Gigabyte", "Màn hình Gigabyte G24F 2", 3_590_000),
                ("HKC", "Màn hình HKC MB24V9", 1_990_000),
            ],
            _MONITOR,
        ),
    ],
    "pc_components": [
        (
            [
                ("ASUS", "Card màn hình ASUS Dual RTX 4060 8GB", 8_490_000),
                ("Gigabyte", "Card màn hình Gigabyte RTX 4060 Ti Eagle 8GB", 10_990_000),
                ("MSI", "Card màn hình MSI RTX 4070 Super Ventus 2X 12GB", 16_990_000),
                ("ASUS", "Card màn hình ASUS TUF RTX 4070 Ti Super 16GB", 24_990_000),
                ("Intel", "CPU Intel Core i3-12100F", 2_090_000),
                ("Intel", "CPU Intel Core i5-12400F", 2_890_000),
                ("Intel", "CPU Intel Core i5-13400F", 4_690_000),
                ("Intel", "CPU Intel Core i7-14700K", 10_490_000),
                ("AMD", "CPU AMD Ryzen 5 5600", 2_990_000),
                ("AMD", "CPU AMD Ryzen 5 7600", 5_290_000),
                ("AMD", "CPU AMD Ryzen 7 7800X3D", 10_990_000),
                ("ASUS", "Mainboard ASUS Prime B760M-A WiFi D4", 3_690_000),
                ("MSI", "Mainboard MSI PRO B650M-A WiFi", 4_490_000),
                ("Gigabyte", "Mainboard Gigabyte H610M S2H", 1_990_000),
                ("Corsair", "Nguồn Corsair RM750e 750W", 2_690_000),
                ("Cooler Master", "Nguồn Cooler Master MWE 650 Bronze V2", 1_390_000),
                ("NZXT", "Vỏ case NZXT H5 Flow", 2_190_000),
                ("Deepcool", "Tản nhiệt khí Deepcool AK400", 790_000),
            ],
            _SINGLE,
        ),
        (
            [
                ("Samsung", "SSD Samsung 990 Pro NVMe", 2_390_000),
                ("Samsung", "SSD Samsung 870 EVO SATA", 1_490_000),
                ("WD", "SSD WD Blue SN580 NVMe", 1_290_000),
                ("Kingston", "SSD Kingston NV2 NVMe", 990_000),
                ("Crucial", "SSD Crucial P3 Plus NVMe", 1_190_000),
            ],
            _STORAGE,
        ),
        (
            [
                ("Kingston", "RAM Kingston Fury Beast DDR5 5600MHz", 1_390_000),
                ("Corsair", "RAM Corsair Vengeance DDR5 5200MHz", 1_490_000),
                ("G.Skill", "RAM G.Skill Ripjaws V DDR4 3200MHz", 990_000),
                ("TeamGroup", "RAM TeamGroup T-Force Delta RGB DDR4 3600MHz", 1_190_000),
            ],
            _RAM,
        ),
    ],
    "accessories": [
        (
            [
                ("Logitech", "Chuột không dây Logitech M331 Silent", 390_000),
                ("Logitech", "Chuột gaming Logitech G102 Lightsync", 450_000),
                ("Logitech", "Chuột Logitech MX Master 3S", 2_390_000),
                ("Logitech", "Bàn phím không dây Logitech K380", 790_000),
                ("Akko", "Bàn phím cơ Akko 3068B Plus", 1_590_000),
                ("Razer", "Chuột gaming Razer DeathAdder Essential", 490_000),
                ("Anker", "Sạc dự phòng Anker PowerCore 10000mAh", 590_000),
                ("Xiaomi", "Sạc dự phòng Xiaomi 20000mAh 22.5W", 490_000),
                ("Baseus", "Cáp sạc Baseus USB-C to USB-C 100W 1m", 190_000),
                ("Ugreen", "Hub chuyển đổi Ugreen USB-C 6 in 1", 690_000),
                ("Apple", "Củ sạc Apple USB-C 20W", 490_000),
                ("Samsung", "Củ sạc nhanh Samsung 25W", 390_000),
                ("Anker", "Củ sạc Anker Nano 3 30W", 450_000),
                ("Belkin", "Sạc không dây Belkin BoostCharge 15W", 890_000),
                ("SanDisk", "Thẻ nhớ SanDisk Extreme microSD 128GB", 390_000),
                ("SanDisk", "USB SanDisk Ultra Flair 64GB", 190_000),
                ("Tomtoc", "Túi chống sốc Tomtoc laptop 14 inch", 690_000),
                ("Mikkor", "Balo laptop Mikkor The Betty", 590_000),
                ("Apple", "Bút Apple Pencil 2", 3_190_000),
                ("Xiaomi", "Giá đỡ laptop Xiaomi", 350_000),
            ],
            _COLOURS,
        ),
    ],
    "cameras": [
        (
            [
                ("Sony", "Máy ảnh Sony Alpha A6400", 20_990_000),
                ("Sony", "Máy ảnh Sony Alpha A7 IV", 52_990_000),
                ("Canon", "Máy ảnh Canon EOS R50", 17_490_000),
                ("Canon", "Máy ảnh Canon EOS R10", 23_490_000),
                ("Fujifilm", "Máy ảnh Fujifilm X-T30 II", 20_490_000),
                ("Fujifilm", "Máy ảnh Fujifilm X-S20", 30_990_000),
                ("Nikon", "Máy ảnh Nikon Z50", 19_990_000),
                ("Nikon", "Máy ảnh Nikon Z fc", 21_490_000),
            ],
            _CAMERA,
        ),
        (
            [
                ("GoPro", "Camera hành trình GoPro HERO12 Black", 9_990_000),
                ("DJI", "Camera DJI Osmo Pocket 3", 12_490_000),
                ("DJI", "Camera hành trình DJI Osmo Action 4", 8_990_000),
                ("Insta360", "Camera 360 Insta360 X3", 10_490_000),
                ("DJI", "Flycam DJI Mini 4 Pro", 21_990_000),
                ("Fujifilm", "Máy ảnh lấy liền Fujifilm Instax Mini 12", 1_990_000),
                ("Canon", "Máy ảnh Canon PowerShot G7 X Mark III", 17_990_000),
            ],
            _SINGLE,
        ),
    ],
    "smart_home": [
        (
            [
                ("Xiaomi", "Camera IP Xiaomi C300 2K", 690_000),
                ("Xiaomi", "Robot hút bụi Xiaomi Vacuum S10", 4_990_000),
                ("Xiaomi", "Máy lọc không khí Xiaomi 4 Lite", 2_990_000),
                ("Xiaomi", "Bóng đèn thông minh Xiaomi LED Bulb", 190_000),
                ("Imou", "Camera IP Imou Ranger 2 1080P", 590_000),
                ("Ezviz", "Camera IP Ezviz C6N", 650_000),
                ("TP-Link", "Camera IP TP-Link Tapo C200", 490_000),
                ("TP-Link", "Router WiFi 6 TP-Link Archer AX23", 1_290_000),
                ("TP-Link", "Ổ cắm thông minh TP-Link Tapo P100", 250_000),
                ("Roborock", "Robot hút bụi lau nhà Roborock S8", 14_990_000),
                ("Ecovacs", "Robot hút bụi Ecovacs Deebot T20 Omni", 13_990_000),
                ("Google", "Loa thông minh Google Nest Mini", 890_000),
                ("Philips", "Bóng đèn thông minh Philips Hue White", 390_000),
                ("Rạng Đông", "Công tắc thông minh Rạng Đông WiFi", 550_000),
            ],
            _COLOURS[:2],
        ),
    ],
}
