"""Generate the embedded demo corpora (``<task>/{public,private,test}.jsonl``).

Everything here is written from templates for this project; nothing is taken
from the RewardDS data. The files use the same field layout as the real data:

* medical:   ``instruction`` (constant doctor prompt), ``input``, ``output``
* financial: ``instruction`` (one of five generic prompts), ``input``, ``output``
* code:      ``seq_id``, ``instruction``, ``output``, ``code``, ``entry_point``, ``testcase``

``private.jsonl`` plays the client's sensitive data: every medical and financial
private question names a made-up person (and, for financial, a made-up account
number). The three splits share no question text. Every reference ``code`` is
executed against its asserts before anything is written.

Usage (from the repository root)::

    .venv/bin/python rewardds/data/demo/make_demo.py          # (re)write the files
    .venv/bin/python rewardds/data/demo/make_demo.py --check  # exit 1 if they differ
"""
from __future__ import annotations

import argparse
import copy
import json
import random
import sys
from pathlib import Path

SEED = 20250226
COUNTS = {"public": 300, "private": 160, "test": 40}
HERE = Path(__file__).resolve().parent

# ----------------------------------------------------------------- made-up people

FIRST_NAMES = [
    "Elena", "Marcus", "Priya", "Tomas", "Ingrid", "Darnell", "Yuki", "Fatima", "Oskar", "Leila",
    "Rowan", "Beatriz", "Kofi", "Annika", "Dmitri", "Carmen", "Henrik", "Amara", "Lucian", "Noor",
    "Vera", "Emeka", "Sofia", "Callum", "Mei", "Rafael", "Greta", "Idris", "Helena", "Jonas",
    "Zainab", "Matteo", "Astrid", "Kwame", "Lorena", "Felix", "Aiko", "Tobias", "Nadia", "Bruno",
]
LAST_NAMES = [
    "Marsh", "Okafor", "Lindqvist", "Varga", "Castellano", "Whitfield", "Nakamura", "Haddad", "Brennan",
    "Kowalczyk", "Delacroix", "Ashworth", "Moreau", "Petrov", "Quintero", "Halloran", "Sato", "Adeyemi",
    "Fairbanks", "Rasmussen", "Thornbury", "Oyelaran", "Vasquez", "Eriksen", "Galloway", "Demir", "Pellegrini",
    "Strand", "Mbeki", "Holloway", "Farrow", "Iwasaki", "Lockhart", "Renner", "Szabo", "Calloway",
]


def people(rng: random.Random, n: int) -> list[str]:
    pairs = [f"{f} {l}" for f in FIRST_NAMES for l in LAST_NAMES]
    return rng.sample(pairs, n)


# ======================================================================== medical

DOCTOR_PROMPT = "You are a doctor: answer the patient's medical question using the description they give."

CONDITIONS = [
    dict(
        symptoms=["a dull pressure across my forehead", "a tight band-like feeling around my head",
                  "aching at the back of my neck", "headaches that get worse towards the evening"],
        context=["I sit in front of a computer most of the day.", "Work has been very stressful lately."],
        cause="This sounds like a tension-type headache, which is usually linked to tight neck and scalp muscles, stress, poor posture and short sleep.",
        advice=["take regular breaks from the screen", "keep the screen at eye level", "drink enough water",
                "do gentle neck stretches twice a day", "keep a regular sleep schedule"],
        medicine="Paracetamol or ibuprofen can be taken now and then, but not on more than two or three days a week, because frequent use can itself cause headaches.",
        tests="Usually no tests are needed, though it is worth checking your blood pressure and eyesight.",
        serious="This is usually not serious.",
        red="Please see a doctor at once if a headache is sudden and severe or comes with fever, weakness or confusion.",
    ),
    dict(
        symptoms=["a throbbing pain on one side of my head", "sensitivity to bright light",
                  "nausea during the headache", "flashing zigzag lines before the pain starts"],
        context=["The attacks last several hours.", "My mother also had bad headaches."],
        cause="Your symptoms fit migraine, a recurrent headache disorder that often runs in families and can be set off by missed meals, poor sleep, stress or hormonal changes.",
        advice=["keep a headache diary to find your triggers", "rest in a dark quiet room during an attack",
                "avoid skipping meals", "limit caffeine and alcohol", "sleep at regular hours"],
        medicine="An anti-inflammatory such as ibuprofen taken early in the attack often helps; if attacks are frequent, a doctor can prescribe a triptan or a preventive medicine.",
        tests="A scan is rarely needed when the neurological examination is normal.",
        serious="Migraine is painful but usually not dangerous.",
        red="Get urgent care if you have the worst headache of your life, weakness on one side or trouble speaking.",
    ),
    dict(
        symptoms=["a burning feeling behind my breastbone", "a sour taste in my mouth",
                  "burning in my chest after meals", "a burning sensation when I lie down at night"],
        context=["I often eat late in the evening.", "I drink several cups of coffee a day."],
        cause="This is most likely acid reflux, where stomach acid flows back into the food pipe, often made worse by large or late meals, coffee, alcohol, smoking and extra weight.",
        advice=["eat smaller meals", "avoid eating in the three hours before bed", "raise the head of your bed",
                "cut down on coffee, alcohol and spicy food", "lose some weight if you are overweight"],
        medicine="An antacid gives quick relief, and a short course of a proton pump inhibitor such as omeprazole before breakfast can heal the irritation.",
        tests="If it does not settle within a few weeks, an endoscopy and a test for Helicobacter pylori can be done.",
        serious="Reflux is common and usually not serious.",
        red="See a doctor soon if you have trouble swallowing, vomit blood, have black stools or lose weight without trying.",
    ),
    dict(
        symptoms=["pain in my lower back", "stiffness in my lower back in the morning",
                  "back pain when I bend forward", "a pulling pain in my lower back after lifting"],
        context=["I lifted some heavy boxes when I moved house.", "I work long shifts standing up."],
        cause="This appears to be a muscular strain of the lower back, which is very common after lifting, twisting or long periods in one position and usually improves within a few weeks.",
        advice=["stay gently active rather than resting in bed", "apply a warm pack for twenty minutes",
                "avoid heavy lifting for a while", "start core strengthening exercises once the pain eases",
                "check your posture while sitting"],
        medicine="Ibuprofen or another anti-inflammatory taken with food for a few days can reduce the pain, and a muscle relaxant may help for a short time.",
        tests="An X-ray or MRI is not needed at first unless the pain lasts beyond six weeks.",
        serious="This is usually not a serious problem.",
        red="Seek help quickly if you have numbness around the groin, loss of bladder control or weakness in the legs.",
    ),
    dict(
        symptoms=["sneezing fits every morning", "a runny nose with clear watery discharge",
                  "itchy watery eyes", "a blocked nose that is worse outdoors"],
        context=["It happens every spring.", "We recently got a cat."],
        cause="These symptoms point to allergic rhinitis, an allergy of the nose lining to things like pollen, dust mites or pet dander.",
        advice=["keep windows closed on high pollen days", "rinse your nose with salt water",
                "wash bedding every week in hot water", "shower after being outdoors", "keep pets out of the bedroom"],
        medicine="A non-drowsy antihistamine such as cetirizine or loratadine and a steroid nasal spray used every day usually control the symptoms well.",
        tests="An allergy skin test or blood test can identify exactly what you react to.",
        serious="Hay fever is a nuisance but not dangerous.",
        red="If you also get wheezing or shortness of breath, please see a doctor because allergies can come with asthma.",
    ),
    dict(
        symptoms=["a sore throat and a runny nose", "a mild fever and body aches", "a blocked nose and sneezing",
                  "a tickly cough and tiredness"],
        context=["Several people at my office are sick.", "My children had a cold last week."],
        cause="This looks like a common viral cold, which normally clears up on its own in seven to ten days; antibiotics do not work against viruses.",
        advice=["rest as much as you can", "drink plenty of warm fluids", "gargle with warm salt water",
                "use steam inhalation for the blocked nose", "wash your hands often to protect others"],
        medicine="Paracetamol can ease the fever and aches, and lozenges or honey in warm water soothe the throat.",
        tests="No tests are needed for a simple cold.",
        serious="A cold is not serious in a healthy adult.",
        red="See a doctor if the fever lasts more than three days, you become short of breath or you feel much worse after starting to improve.",
    ),
    dict(
        symptoms=["burning when I pass urine", "a frequent urge to urinate", "cloudy urine with a strong smell",
                  "pain in my lower belly when I urinate"],
        context=["I have had this once before.", "I have not been drinking much water."],
        cause="These are typical symptoms of a urinary tract infection, usually a bladder infection caused by bacteria from the bowel.",
        advice=["drink plenty of water", "do not hold urine for long", "empty your bladder after intercourse",
                "avoid scented soaps in the genital area", "wipe from front to back"],
        medicine="A doctor can prescribe a short course of a suitable antibiotic such as nitrofurantoin after a urine test; paracetamol helps the pain meanwhile.",
        tests="A urine culture will confirm the infection and show which antibiotic works.",
        serious="A simple bladder infection is easy to treat.",
        red="Go to a doctor the same day if you get fever, back pain near the kidneys or vomiting, as the infection may have reached the kidneys.",
    ),
    dict(
        symptoms=["constant tiredness", "looking pale", "getting short of breath on the stairs",
                  "dizziness when I stand up quickly", "brittle nails and hair loss"],
        context=["My periods are very heavy.", "I follow a vegetarian diet."],
        cause="Your symptoms suggest iron deficiency anemia, a low level of red blood cells often caused by heavy periods, a diet low in iron or slow blood loss from the gut.",
        advice=["eat more iron-rich foods such as lentils, spinach and red meat", "take vitamin C with meals to absorb iron",
                "avoid tea with meals", "have the cause of any blood loss checked"],
        medicine="Iron tablets taken once a day, or every other day, for about three months usually correct the level; they can darken the stools.",
        tests="A full blood count and a ferritin test will confirm it.",
        serious="It is treatable, but the cause should always be found.",
        red="See a doctor soon if you notice black stools or blood in the stools.",
    ),
    dict(
        symptoms=["trouble falling asleep at night", "waking up at three in the morning",
                  "feeling unrefreshed after sleep", "lying awake with racing thoughts"],
        context=["I use my phone in bed.", "I work night shifts some weeks."],
        cause="This sounds like insomnia, which is most often related to stress, irregular sleep times, screens in the evening, caffeine or worry about sleep itself.",
        advice=["go to bed and wake up at the same time every day", "avoid screens for an hour before bed",
                "stop caffeine after midday", "keep the bedroom cool and dark", "get up if you cannot sleep after twenty minutes"],
        medicine="Sleeping pills are only for short use; melatonin may help some people, and cognitive behavioural therapy for insomnia works best in the long run.",
        tests="Tests are rarely needed, but thyroid tests are reasonable if you also have other symptoms.",
        serious="Insomnia is common and usually improves with good habits.",
        red="Talk to a doctor if you feel low or hopeless most days, or if someone notices you stop breathing in your sleep.",
    ),
    dict(
        symptoms=["dry itchy patches on the inside of my elbows", "red scaly skin on my hands",
                  "itching that is worse at night", "rough cracked skin on my wrists"],
        context=["I had asthma as a child.", "It gets worse in winter."],
        cause="This looks like eczema, or atopic dermatitis, a long-term condition in which the skin barrier is weak and dries out and becomes inflamed easily.",
        advice=["apply a thick fragrance-free moisturiser twice a day", "use a soap substitute", "take short lukewarm showers",
                "wear cotton instead of wool", "keep your nails short to avoid scratching damage"],
        medicine="A mild steroid cream such as hydrocortisone for one to two weeks calms flares, and an antihistamine at night can reduce itching.",
        tests="No tests are usually needed; patch testing helps if a contact allergy is suspected.",
        serious="Eczema is not contagious and not dangerous.",
        red="See a doctor if the patches weep, crust or become painful, which may mean infection.",
    ),
    dict(
        symptoms=["watery diarrhoea", "vomiting and stomach cramps", "loose stools several times a day",
                  "nausea and loss of appetite"],
        context=["It started after eating at a restaurant.", "Other people in my family have the same."],
        cause="This is most likely gastroenteritis, an infection of the stomach and bowel from a virus or contaminated food, which usually settles within a few days.",
        advice=["sip oral rehydration solution often", "eat small bland meals like rice and bananas",
                "avoid dairy, fatty food and alcohol for a few days", "wash your hands carefully", "rest at home until it stops"],
        medicine="Oral rehydration salts are the main treatment; loperamide can reduce diarrhoea in adults if there is no fever or blood.",
        tests="A stool test is only needed if it lasts more than a week or there is blood.",
        serious="It is usually self-limiting.",
        red="Get medical care quickly if you cannot keep fluids down, pass very little urine, or see blood in the stool.",
    ),
    dict(
        symptoms=["pressure around my cheeks and eyes", "a thick yellow discharge from my nose",
                  "facial pain when I bend forward", "a blocked nose and reduced sense of smell"],
        context=["It started after a cold.", "This is the third time this year."],
        cause="These symptoms suggest sinusitis, an inflammation of the sinuses that usually follows a cold and is most often viral.",
        advice=["rinse your nose with saline twice a day", "breathe in steam", "drink plenty of fluids",
                "sleep with your head raised", "avoid cigarette smoke"],
        medicine="A steroid nasal spray and paracetamol help; antibiotics are only needed if it lasts beyond ten days or gets worse after improving.",
        tests="A CT scan is only considered when it keeps coming back.",
        serious="Sinusitis is usually not serious.",
        red="See a doctor urgently if you have swelling around the eye, double vision or a severe headache.",
    ),
    dict(
        symptoms=["blood pressure readings around 150 over 95", "occasional headaches in the morning",
                  "high readings on my home blood pressure monitor", "a pounding feeling in my head when stressed"],
        context=["My father had a stroke.", "I am a bit overweight."],
        cause="Repeated readings at this level mean high blood pressure, which often has no symptoms but raises the risk of heart disease and stroke over time.",
        advice=["reduce salt in your diet", "walk briskly for thirty minutes most days", "lose weight if needed",
                "limit alcohol", "stop smoking", "measure your pressure at home twice a day for a week"],
        medicine="If lifestyle changes are not enough, a doctor may start a tablet such as amlodipine or an ACE inhibitor.",
        tests="Blood tests for kidney function, cholesterol and sugar and an ECG are usually done.",
        serious="It needs treatment, but it can be controlled well.",
        red="Seek urgent care for chest pain, a severe headache or blurred vision with a very high reading.",
    ),
    dict(
        symptoms=["constant thirst", "passing urine very often", "a fasting blood sugar of 140",
                  "tiredness and blurred vision"],
        context=["My mother has diabetes.", "I have gained weight in the last years."],
        cause="These findings raise the possibility of type 2 diabetes, where the body does not use insulin properly and blood sugar stays high.",
        advice=["cut down on sugary drinks and white bread", "fill half your plate with vegetables",
                "be active for at least 150 minutes a week", "aim for gradual weight loss", "check your feet daily"],
        medicine="If it is confirmed, metformin is usually the first medicine, together with diet and exercise.",
        tests="An HbA1c blood test and a repeat fasting sugar will confirm the diagnosis.",
        serious="It is a long-term condition that needs follow-up, but good control prevents complications.",
        red="See a doctor quickly if you feel very drowsy, vomit or breathe fast.",
    ),
    dict(
        symptoms=["a sharp pain in my heel with the first steps in the morning", "pain under my heel after standing",
                  "heel pain that eases after walking a bit", "tenderness on the bottom of my foot"],
        context=["I recently started running.", "I stand all day at work."],
        cause="This is typical of plantar fasciitis, an irritation of the thick band of tissue under the foot that is common in runners and people who stand a lot.",
        advice=["stretch your calves and the sole of your foot every morning", "wear supportive shoes with cushioned heels",
                "roll a frozen water bottle under your foot", "reduce running for a few weeks", "avoid walking barefoot"],
        medicine="Ibuprofen for a short time can ease the pain; a steroid injection is only considered if nothing else helps.",
        tests="An X-ray is usually not needed.",
        serious="It is not serious but can take several months to settle.",
        red="See a doctor if the heel is swollen and red or you cannot put weight on it.",
    ),
    dict(
        symptoms=["a swollen ankle after twisting it", "bruising on the outside of my ankle",
                  "pain when I put weight on my ankle", "ankle pain after a fall during football"],
        context=["It happened two days ago.", "I can still walk with a limp."],
        cause="This sounds like an ankle sprain, a stretch or tear of the ligaments on the outer side of the ankle.",
        advice=["rest and protect the ankle", "apply ice for fifteen minutes every few hours", "use a compression bandage",
                "keep the foot raised", "start gentle movement after two or three days"],
        medicine="Paracetamol or ibuprofen can help with pain and swelling for the first few days.",
        tests="An X-ray is needed if you cannot take four steps or the bone itself is tender.",
        serious="Most sprains heal within a few weeks.",
        red="See a doctor if the foot becomes numb or cold, or the ankle looks deformed.",
    ),
    dict(
        symptoms=["red itchy eyes", "a sticky discharge that glues my eyelids in the morning",
                  "a gritty feeling in one eye", "watery red eyes"],
        context=["My son had the same last week.", "I wear contact lenses."],
        cause="This is most likely conjunctivitis, an inflammation of the thin layer covering the white of the eye, caused by a virus, bacteria or allergy.",
        advice=["clean your eyelids with cooled boiled water", "do not share towels", "wash your hands after touching your eyes",
                "stop wearing contact lenses until it clears", "use a cool compress"],
        medicine="Lubricating eye drops help; antibiotic drops are used only when the discharge is thick and yellow.",
        tests="No tests are usually needed.",
        serious="It usually clears in one to two weeks.",
        red="See an eye doctor urgently if you have eye pain, sensitivity to light or reduced vision.",
    ),
    dict(
        symptoms=["pimples on my forehead and chin", "painful red bumps on my cheeks",
                  "blackheads on my nose", "breakouts before my period"],
        context=["I have oily skin.", "I have tried many face washes."],
        cause="This is acne, caused by blocked and inflamed oil glands, influenced by hormones, oily skin and bacteria on the skin.",
        advice=["wash your face twice a day with a gentle cleanser", "avoid squeezing the spots",
                "use oil-free moisturiser and make-up", "change your pillowcase often", "be patient, as treatments take eight weeks to work"],
        medicine="A gel with benzoyl peroxide or adapalene at night works for mild acne; a doctor can add antibiotic tablets for more severe cases.",
        tests="Hormone tests are only needed if periods are irregular or there is excess hair growth.",
        serious="Acne is very common and treatable.",
        red="See a dermatologist if you have deep painful lumps or scarring.",
    ),
    dict(
        symptoms=["bloating after meals", "cramping belly pain that eases after a bowel movement",
                  "alternating constipation and diarrhoea", "a lot of gas"],
        context=["It is worse when I am stressed.", "I have had this on and off for years."],
        cause="Your description fits irritable bowel syndrome, a common problem of how the gut moves and senses, often linked to stress and certain foods.",
        advice=["eat regular meals", "keep a food diary", "try reducing gas-forming foods such as beans and onions",
                "add soluble fibre such as oats", "exercise regularly", "find ways to manage stress"],
        medicine="Peppermint oil capsules can ease cramps; a doctor may suggest a laxative or an antispasmodic depending on the main symptom.",
        tests="Blood tests for anemia and celiac disease help rule out other causes.",
        serious="IBS is uncomfortable but does not damage the bowel.",
        red="See a doctor if you lose weight, see blood in the stool or are over fifty with new symptoms.",
    ),
    dict(
        symptoms=["feeling cold all the time", "weight gain without eating more", "dry skin and constipation",
                  "slowness and low energy"],
        context=["My sister has a thyroid problem.", "I had a baby a few months ago."],
        cause="These symptoms can be caused by an underactive thyroid, where the gland makes too little hormone and the body slows down.",
        advice=["get your thyroid checked before changing anything", "keep a balanced diet", "exercise gently and regularly",
                "note your symptoms to discuss with the doctor"],
        medicine="If confirmed, a daily levothyroxine tablet taken on an empty stomach replaces the missing hormone.",
        tests="A TSH and free T4 blood test will show whether the thyroid is underactive.",
        serious="It is easy to treat once diagnosed.",
        red="See a doctor soon if you notice a swelling in the neck or feel very drowsy.",
    ),
    dict(
        symptoms=["a racing heart when I am nervous", "sudden attacks of fear with sweating",
                  "constant worry that I cannot control", "tight chest and shaky hands in crowded places"],
        context=["I have a lot of pressure at work.", "My heart tests were normal."],
        cause="This sounds like anxiety, possibly with panic attacks, which produce strong physical symptoms through the body's stress response.",
        advice=["practise slow breathing, in for four seconds and out for six", "exercise regularly",
                "cut down on caffeine and alcohol", "keep a regular sleep routine", "talk to someone you trust"],
        medicine="Cognitive behavioural therapy is the first choice; a doctor may also offer an SSRI if symptoms are severe.",
        tests="A blood count and thyroid test can exclude physical causes.",
        serious="Anxiety is very treatable.",
        red="If you ever have thoughts of harming yourself, seek help right away.",
    ),
    dict(
        symptoms=["wheezing at night", "a dry cough that gets worse with exercise",
                  "tightness in my chest when it is cold", "shortness of breath when climbing stairs"],
        context=["I had eczema as a child.", "I live with a smoker."],
        cause="These symptoms suggest asthma, in which the airways become narrow and irritable in response to triggers like cold air, exercise, dust or smoke.",
        advice=["avoid smoke and known triggers", "warm up before exercise", "keep your home free of dust",
                "have a written asthma action plan", "get a yearly flu vaccine"],
        medicine="A reliever inhaler such as salbutamol helps during symptoms, and a regular steroid inhaler is needed if you use the reliever often.",
        tests="Spirometry, a breathing test, will confirm the diagnosis.",
        serious="Asthma is well controlled with the right inhalers.",
        red="Go to emergency care if you cannot speak in full sentences or your lips turn blue.",
    ),
    dict(
        symptoms=["knee pain when climbing stairs", "stiffness in my knees after sitting",
                  "a grinding feeling in my knee", "swelling of my knee after walking"],
        context=["I am overweight.", "I used to play a lot of football."],
        cause="This is most likely osteoarthritis of the knee, a wear-related change of the joint cartilage that is common with age and extra weight.",
        advice=["keep active with low-impact exercise like cycling or swimming", "strengthen your thigh muscles",
                "lose weight if needed", "wear cushioned shoes", "use a walking stick on bad days"],
        medicine="Paracetamol or an anti-inflammatory gel rubbed on the knee helps the pain.",
        tests="An X-ray of the knee can show the extent of the changes.",
        serious="It is a long-term condition but exercise helps a lot.",
        red="See a doctor promptly if the knee becomes hot, red and very swollen.",
    ),
    dict(
        symptoms=["aching bones", "muscle weakness", "low mood in winter", "frequent colds and tiredness"],
        context=["I rarely go outside.", "I work indoors all day."],
        cause="These symptoms may be due to low vitamin D, which is common in people who get little sunlight.",
        advice=["spend some time outdoors in daylight", "eat oily fish and eggs", "keep active", "follow up with your doctor"],
        medicine="A vitamin D supplement of about 1000 units a day is safe for most adults; higher doses need a doctor's advice.",
        tests="A blood test for 25-hydroxy vitamin D will show your level.",
        serious="It is easy to correct.",
        red="See a doctor if you have bone pain that keeps you awake.",
    ),
    dict(
        symptoms=["a very sore throat", "pain when swallowing", "swollen glands in my neck", "white spots on my tonsils"],
        context=["I have had fever since yesterday.", "I get this every winter."],
        cause="This looks like tonsillitis, an infection of the tonsils that is mostly viral but sometimes caused by streptococcus bacteria.",
        advice=["drink plenty of fluids", "gargle with warm salt water", "eat soft cool foods", "rest your voice"],
        medicine="Paracetamol or ibuprofen relieve pain and fever; antibiotics are given only when a strep infection is likely.",
        tests="A throat swab or a rapid strep test can show whether bacteria are involved.",
        serious="It usually gets better within a week.",
        red="Get help urgently if you cannot swallow saliva, have trouble breathing or cannot open your mouth.",
    ),
    dict(
        symptoms=["severe pain in my side that comes in waves", "pain moving from my back to my groin",
                  "blood in my urine", "nausea with sharp flank pain"],
        context=["I do not drink much water.", "I had a kidney stone years ago."],
        cause="This pattern strongly suggests a kidney stone moving down the tube from the kidney to the bladder.",
        advice=["drink enough water to pass pale urine", "limit salt and processed meat", "reduce sugary drinks",
                "strain your urine to catch the stone"],
        medicine="Strong anti-inflammatory pain relief helps, and tamsulosin can help a stone pass; most small stones pass on their own.",
        tests="A CT scan and a urine test will show the size and position of the stone.",
        serious="Most stones pass, but the pain can be intense.",
        red="Go to the emergency department if you have fever with the pain or cannot pass urine.",
    ),
    dict(
        symptoms=["numbness in my thumb and first fingers", "tingling in my hand at night",
                  "a weak grip and dropping things", "hand pain after typing"],
        context=["I type for many hours.", "I am pregnant."],
        cause="This sounds like carpal tunnel syndrome, where the median nerve is squeezed at the wrist.",
        advice=["wear a wrist splint at night", "take breaks from repetitive hand work", "keep your wrist straight while typing",
                "do gentle nerve gliding exercises"],
        medicine="Anti-inflammatory tablets help a little; a steroid injection or minor surgery helps if symptoms persist.",
        tests="Nerve conduction studies can confirm it.",
        serious="It is not dangerous, but long pressure can weaken the hand.",
        red="See a doctor soon if the muscles at the base of the thumb are wasting.",
    ),
]

MED_OPENINGS = ["Hello doctor.", "Hi.", "Dear doctor.", "Good morning doctor.", "Hello.", "Hi doctor.", ""]
MED_AGE_SEX = ["I am a {age} year old {sex}.", "I am {age} years old ({sex}).", "I'm a {sex}, {age} years old.",
               "{Sex}, {age}."]
MED_NAMED = ["My name is {name}, I am {age} years old.", "My name is {name} and I am a {age} year old {sex}.",
             "I am {name}, a {age} year old {sex}.", "This is {name}, {age} years old."]
MED_SYMPTOMS = [
    "For the last {dur} I have had {s1} and {s2}.",
    "I have been having {s1} for {dur}, and also {s2}.",
    "It started {dur} ago with {s1}, and now I also have {s2}.",
    "For about {dur} I have noticed {s1} along with {s2}.",
    "I have been suffering from {s1} and {s2} for {dur} now.",
]
MED_DURATIONS = ["two days", "a week", "three weeks", "a month", "several months", "ten days", "two months",
                 "four days", "six weeks", "a year"]
MED_CONTEXT = ["I have no other medical problems.", "I took paracetamol but it only helped a little.",
               "I do not smoke.", "I am not on any regular medication.", "I exercise a few times a week.",
               "I have high cholesterol.", "I drink alcohol only at weekends."]
MED_QUESTIONS = {
    "cause": ["What could be the cause?", "What is causing this?", "What could this be?"],
    "treat": ["What should I do?", "How can I get relief?", "How can I get rid of this?"],
    "medicine": ["Which medicine can I take?", "Is there a medicine that helps?"],
    "tests": ["Do I need any tests?", "Should I get any investigations done?"],
    "serious": ["Is this something serious?", "Should I be worried?"],
}
MED_GREETINGS = ["Hi, thank you for your query.", "Hello, I have gone through your description.",
                 "Hi, I understand your concern.", "Hello and welcome.", "Thanks for writing in.", "Hello."]
MED_CLOSINGS = ["Hope this helps. Take care.", "Wishing you good health.", "Regards.", "Take care.",
                "Feel free to write back with more questions."]


FEMALE_ONLY = ("period", "pregnant", "had a baby")


def medical_question(rng, cond, name=None):
    age, sex = rng.randint(18, 79), rng.choice(["man", "woman"])
    s1, s2 = rng.sample(cond["symptoms"], 2)
    symptoms = rng.choice(MED_SYMPTOMS).format(s1=s1, s2=s2, dur=rng.choice(MED_DURATIONS))
    context = rng.choice(cond["context"] + MED_CONTEXT) if rng.random() < 0.7 else ""
    if any(m in symptoms + context for m in FEMALE_ONLY):
        sex, age = "woman", min(age, 45)
    who = rng.choice(MED_NAMED if name else MED_AGE_SEX).format(name=name, age=age, sex=sex, Sex=sex.capitalize())
    kind = rng.choice(sorted(MED_QUESTIONS))
    parts = [rng.choice(MED_OPENINGS), who, symptoms, context, rng.choice(MED_QUESTIONS[kind])]
    return " ".join(p for p in parts if p), kind


def medical_answer(rng, cond, kind):
    advice = rng.sample(cond["advice"], 3)
    lead = rng.choice(["I would suggest that you", "I advise you to", "For now, please", "It helps to"])
    advice_s = f"{lead} {advice[0]}, {advice[1]} and {advice[2]}."
    # (priority, text): lower priority parts are dropped first to stay within 600 chars.
    parts = [(9, rng.choice(MED_GREETINGS))]
    if kind == "serious":
        parts.append((8, cond["serious"]))
    parts += [(9, cond["cause"]), (7, advice_s)]
    if kind in ("medicine", "treat"):
        parts.append((8, cond["medicine"]))
    if kind in ("tests", "cause"):
        parts.append((8, cond["tests"]))
    parts += [(5, cond["red"]), (6, rng.choice(MED_CLOSINGS))]
    return _fit(parts, 600)


def _fit(parts, limit):
    parts = list(parts)
    while len(" ".join(t for _, t in parts)) > limit:
        low = min(range(len(parts)), key=lambda i: (parts[i][0], -i))
        del parts[low]
    return " ".join(t for _, t in parts)


def make_medical(rng):
    out = {}
    seen = set()
    names = iter(people(rng, 2 * COUNTS["private"]))  # spares for rejected duplicates
    for split in ("test", "private", "public"):
        rows = []
        while len(rows) < COUNTS[split]:
            cond = CONDITIONS[len(rows) % len(CONDITIONS)] if split != "test" else rng.choice(CONDITIONS)
            q, kind = medical_question(rng, cond, next(names) if split == "private" else None)
            if q in seen:
                continue
            seen.add(q)
            rows.append({"instruction": DOCTOR_PROMPT, "input": q, "output": medical_answer(rng, cond, kind)})
        rng.shuffle(rows)
        out[split] = rows
    return out


# ====================================================================== financial

FIN_PROMPTS = [
    "Answer the personal finance question below using your financial knowledge.",
    "As a financial expert, give your view on the question in the input.",
    "Use your background in finance to respond to the following question. Any answer format is fine.",
    "Give a clear and practical answer to the financial question provided in the input.",
    "Share your professional opinion on the money question below.",
]


def _money(x):
    return f"${x:,.0f}"


def _v(rng):
    """Random figures shared by the financial templates."""
    return dict(
        expenses=rng.randrange(1500, 6001, 100), income=rng.randrange(30000, 160001, 1000),
        amount=rng.choice([2000, 5000, 8000, 10000, 12000, 15000, 20000, 25000, 40000, 50000]),
        debt=rng.randrange(2000, 25001, 500), apr=rng.choice([16, 18, 19, 21, 22, 24, 26]),
        rate=rng.choice([3, 4, 4.5, 5, 5.5, 6, 7]), years=rng.choice([3, 5, 10, 15, 20, 25, 30]),
        age=rng.randint(22, 64), home=rng.randrange(180000, 700001, 10000), rent=rng.randrange(900, 3501, 50),
        monthly=rng.choice([100, 150, 200, 250, 300, 400, 500, 750]), match=rng.choice([3, 4, 5, 6]),
    )


def _fv(p, r, n):
    return p * (1 + r / 100) ** n


FIN_TOPICS = [
    dict(
        q=["How big should my emergency fund be if I spend about {expenses_s} a month?",
           "I spend around {expenses_s} a month. How much cash should I keep for emergencies?",
           "Is it worth keeping an emergency fund when I could invest the money instead? My monthly costs are {expenses_s}."],
        a=lambda v: [f"A common rule is to keep three to six months of essential expenses, so with {v['expenses_s']} a month that means roughly {_money(3 * v['expenses'])} to {_money(6 * v['expenses'])}.",
                     "The fund is insurance against job loss or large repairs, not an investment, so safety and quick access matter more than return."],
        adv=["Keep it in a high-yield savings account.", "Build it gradually with an automatic monthly transfer.",
             "Aim for the upper end if your income is irregular.", "Refill it after you use it."],
    ),
    dict(
        q=["Should I keep {amount_s} in a checking account or move it to a high-yield savings account?",
           "My bank pays almost nothing on my {amount_s} balance. Is a high-yield savings account worth it?"],
        a=lambda v: [f"At a {v['rate']}% yield, {v['amount_s']} earns about {_money(v['amount'] * v['rate'] / 100)} a year, compared with almost nothing in a typical checking account.",
                     "High-yield savings accounts at insured banks are just as safe up to the insurance limit and money can usually be moved within a day or two."],
        adv=["Keep one month of spending in checking for bills.", "Check that the bank is government insured.",
             "Compare rates every year because they change.", "Watch out for monthly fees."],
    ),
    dict(
        q=["Is a {years}-year certificate of deposit a good idea for {amount_s}?",
           "What happens if I put {amount_s} in a CD at {rate}% for {years} years?"],
        a=lambda v: [f"With {v['amount_s']} at {v['rate']}% compounded yearly you would have about {_money(_fv(v['amount'], v['rate'], v['years']))} after {v['years']} years.",
                     "A CD locks the rate in, which protects you if rates fall, but withdrawing early usually costs several months of interest."],
        adv=["Only use money you will not need before maturity.", "Consider a CD ladder with different maturities.",
             "Compare the rate with inflation.", "Keep your emergency fund separate."],
    ),
    dict(
        q=["I have {debt_s} of credit card debt at {apr}% APR. How should I pay it off?",
           "What is the fastest way to clear {debt_s} on credit cards charging {apr}%?",
           "Should I invest or pay down my {debt_s} credit card balance first?"],
        a=lambda v: [f"At {v['apr']}% APR a balance of {v['debt_s']} costs about {_money(v['debt'] * v['apr'] / 1200)} in interest every month, a guaranteed cost no investment reliably beats.",
                     "Pay the minimum on every card and put all extra money on the card with the highest rate first (the avalanche method)."],
        adv=["Stop using the cards while you pay them down.", "Ask the issuer for a lower rate.",
             "A balance transfer card at 0% can help if you clear it within the promotion.", "Set up automatic payments so you never miss one."],
    ),
    dict(
        q=["How can I raise my credit score quickly?", "My credit score dropped after I missed a payment. How do I rebuild it?",
           "Does closing an old credit card hurt my credit score?"],
        a=lambda v: ["Payment history and credit utilisation are the two biggest factors in a credit score.",
                     "Paying every bill on time and keeping card balances below about 30% of the limit, ideally under 10%, improves the score within a few months."],
        adv=["Keep old accounts open to preserve your credit history.", "Check your credit report for errors.",
             "Avoid opening many new accounts at once.", "Pay the card balance before the statement date."],
    ),
    dict(
        q=["Should I choose a 15-year or a 30-year mortgage for a {home_s} house?",
           "Is a 30-year mortgage at {rate}% better than a 15-year loan?"],
        a=lambda v: ["A 15-year mortgage has a lower rate and far less total interest, but a much higher monthly payment.",
                     "A 30-year loan keeps the payment low and flexible; you can still pay extra when you want, which gives you the choice."],
        adv=["Keep the payment under about 28% of gross income.", "Make sure you still save for retirement.",
             "Compare offers from several lenders.", "Check whether extra payments carry a penalty."],
    ),
    dict(
        q=["Does it make sense to refinance my mortgage from {rate2}% to {rate}%?",
           "When is refinancing a mortgage worth the closing costs?"],
        a=lambda v: ["Refinancing pays off when the monthly savings recover the closing costs before you sell or refinance again.",
                     "Divide the total closing costs by the monthly saving to get the break-even point in months, and compare it with how long you plan to stay."],
        adv=["Avoid restarting a 30-year term if you are far into your loan.", "Ask for a loan estimate from several lenders.",
             "Include points and fees in the comparison.", "Check your credit score before applying."],
    ),
    dict(
        q=["Should I pay extra on my {rate}% mortgage or invest the money?",
           "Is it smart to pay off my mortgage early when I am {age}?"],
        a=lambda v: [f"Paying extra on a {v['rate']}% mortgage earns a guaranteed {v['rate']}% return, while stocks have historically returned more on average but with risk.",
                     "Many people do both: first capture any employer retirement match, then split extra money between the mortgage and investments."],
        adv=["Keep an emergency fund before prepaying.", "Pay off higher-rate debts first.",
             "Consider your comfort with risk.", "Being debt-free at retirement lowers your spending needs."],
    ),
    dict(
        q=["Is it better to lease or buy a car if I drive a lot?", "Should I take a {years}-year auto loan or lease a new car?"],
        a=lambda v: ["Buying usually costs less over time, especially if you keep the car for many years, because you stop paying once the loan ends.",
                     "Leasing gives lower payments and a new car every few years but comes with mileage limits and fees for wear."],
        adv=["Keep auto loans to five years or less.", "Consider a reliable used car.",
             "Compare the total cost, not only the monthly payment.", "Get a loan offer from your bank before visiting the dealer."],
    ),
    dict(
        q=["I owe {debt_s} in student loans at {rate}%. Should I pay them off faster?",
           "What is the best strategy for repaying student loans while saving for retirement?"],
        a=lambda v: [f"At {v['rate']}% the student loan is a moderate-rate debt: paying it early gives a guaranteed {v['rate']}% return.",
                     "A balanced approach is to get any employer match, keep an emergency fund, and then put extra money toward the loan with the highest rate."],
        adv=["Check whether you qualify for income-driven repayment.", "Set up autopay, which sometimes lowers the rate.",
             "Be careful about refinancing government loans, as you lose protections.", "Avoid missing payments."],
    ),
    dict(
        q=["Are index funds better than actively managed funds?", "Why do people recommend low-cost index funds for beginners?"],
        a=lambda v: ["Most actively managed funds fail to beat their benchmark index over long periods, mainly because of higher fees.",
                     "An index fund holds the whole market at very low cost, gives broad diversification and needs little attention."],
        adv=["Look for an expense ratio below 0.2%.", "Choose a broad total-market or world fund.",
             "Invest regularly and hold for the long term.", "Avoid trading in reaction to the news."],
    ),
    dict(
        q=["How should I diversify {amount_s} of investments?", "Is it risky to keep all my savings in my employer's stock?"],
        a=lambda v: ["Diversification spreads money across many companies, sectors and countries so that one failure cannot ruin the portfolio.",
                     "Holding a large share in a single stock, especially your employer's, ties your job and your savings to the same risk."],
        adv=["Keep any single stock below about 10% of the portfolio.", "Mix stock and bond funds according to your age and goals.",
             "Include international funds.", "Rebalance once a year."],
    ),
    dict(
        q=["Should I invest a {amount_s} bonus all at once or spread it out over time?",
           "Is dollar-cost averaging with {monthly_s} a month a good strategy?"],
        a=lambda v: ["Investing a lump sum at once has historically done better about two thirds of the time because markets rise more often than they fall.",
                     "Dollar-cost averaging, investing a fixed amount at regular intervals, reduces regret and the risk of bad timing, and is natural when investing from each paycheck."],
        adv=["Pick a schedule and stick to it.", "Automate the monthly investment.",
             "Do not try to time the market.", "Make sure the money is not needed in the next few years."],
    ),
    dict(
        q=["How often should I rebalance my portfolio?", "My stocks grew to 80% of my portfolio but my target is 60%. What should I do?"],
        a=lambda v: ["Rebalancing brings the portfolio back to its target mix after some assets grow faster than others, which keeps your risk at the level you chose.",
                     "Once a year, or whenever an asset class drifts more than five percentage points from its target, is usually enough."],
        adv=["Rebalance inside tax-advantaged accounts to avoid taxes.", "Direct new contributions to the underweight asset.",
             "Avoid rebalancing too often.", "Write down your target allocation."],
    ),
    dict(
        q=["Why do bond prices fall when interest rates rise?", "Should I hold bonds if interest rates are going up?"],
        a=lambda v: ["When rates rise, new bonds pay more, so existing bonds with lower coupons become less attractive and their prices fall.",
                     "Short-term bonds lose less than long-term bonds, and a bond fund held longer than its duration can recover because it reinvests at the higher rates."],
        adv=["Match bond duration to when you need the money.", "Consider short-term or inflation-protected bonds.",
             "Keep bonds as a stabiliser, not for growth.", "Avoid trying to predict rate moves."],
    ),
    dict(
        q=["Should I open a Roth IRA or a traditional IRA at age {age}?", "I earn {income_s} a year. Is a Roth or traditional IRA better for me?"],
        a=lambda v: ["A traditional IRA gives a tax deduction now and taxes withdrawals later, while a Roth IRA is funded with taxed money and grows tax-free.",
                     "If you expect a higher tax rate in retirement than today, the Roth usually wins; if your rate is high now, the traditional account is often better."],
        adv=["Check the income limits for Roth contributions.", "Having both types gives flexibility later.",
             "Invest the IRA money instead of leaving it in cash.", "Contribute early in the year if you can."],
    ),
    dict(
        q=["My employer matches {match}% of salary in the 401(k). How much should I contribute?",
           "Is it a mistake not to contribute to my 401(k) when I earn {income_s}?"],
        a=lambda v: [f"Always contribute at least enough to get the full {v['match']}% match; on a salary of {v['income_s']} that is {_money(v['income'] * v['match'] / 100)} a year of free money.",
                     "After the match, saving 15% of income in total is a common target for retirement."],
        adv=["Choose low-cost index funds in the plan.", "Increase your rate by one point each year.",
             "Check the vesting schedule.", "Avoid loans from the plan."],
    ),
    dict(
        q=["Is a health savings account worth it?", "How should I use an HSA if I am healthy?"],
        a=lambda v: ["An HSA is triple tax-advantaged: contributions are deductible, growth is tax-free and withdrawals for medical costs are not taxed.",
                     "If you can pay small medical bills from cash, investing the HSA balance turns it into an extra retirement account."],
        adv=["You need a high-deductible health plan to contribute.", "Keep receipts to reimburse yourself later.",
             "Invest the balance in low-cost funds.", "Contribute through payroll to save payroll taxes too."],
    ),
    dict(
        q=["How are capital gains taxed if I sell stock I held for {years} years?",
           "What is the difference between short-term and long-term capital gains?"],
        a=lambda v: ["Gains on assets held for one year or less are short-term and taxed like ordinary income, while longer holdings get lower long-term rates.",
                     "Only the profit is taxed, the sale price minus your cost basis, and losses can offset gains."],
        adv=["Hold investments more than a year when possible.", "Keep records of your purchase prices.",
             "Sell high-basis shares first to reduce the gain.", "Consider gifting appreciated shares to charity."],
    ),
    dict(
        q=["What is tax-loss harvesting and should I do it?", "My fund is down {rate}% this year. Can I use the loss to lower my taxes?"],
        a=lambda v: ["Tax-loss harvesting means selling an investment at a loss to offset capital gains, and up to a yearly limit of ordinary income, then buying a similar but not identical fund.",
                     "It keeps you invested while turning the paper loss into a tax benefit."],
        adv=["Beware of the wash-sale rule for repurchases within 30 days.", "Unused losses carry forward to future years.",
             "It only matters in taxable accounts.", "Keep the new fund similar in risk."],
    ),
    dict(
        q=["I started freelancing and expect to earn {income_s}. Do I need to pay estimated taxes?",
           "How much should a self-employed person set aside for taxes?"],
        a=lambda v: ["Self-employed people generally pay estimated tax four times a year because no employer withholds it, and that includes self-employment tax for social security.",
                     "Setting aside 25% to 30% of net profit in a separate account is a common rule of thumb."],
        adv=["Track business expenses to lower your taxable profit.", "Consider a retirement plan for the self-employed.",
             "Pay at least last year's tax to avoid penalties.", "Talk to a tax professional in the first year."],
    ),
    dict(
        q=["Should I take the standard deduction or itemize?", "Is it worth itemizing deductions if I pay mortgage interest?"],
        a=lambda v: ["You should itemize only when your deductible expenses, such as mortgage interest, state taxes and gifts to charity, exceed the standard deduction.",
                     "For many households the standard deduction is larger, so itemizing brings no benefit."],
        adv=["Add up your expenses before deciding.", "Bunch charitable gifts into one year.",
             "Keep receipts for deductible expenses.", "Tax software compares both options for you."],
    ),
    dict(
        q=["How should I budget a take-home income of {income_m_s} a month?", "What is the 50/30/20 budget rule?"],
        a=lambda v: [f"The 50/30/20 rule puts 50% of take-home pay toward needs, 30% toward wants and 20% toward savings and debt; with {v['income_m_s']} a month that is {_money(v['income_m'] * 0.5)}, {_money(v['income_m'] * 0.3)} and {_money(v['income_m'] * 0.2)}.",
                     "It is a starting point you can adjust to your own situation."],
        adv=["Track spending for a month first.", "Automate savings on payday.",
             "Review subscriptions every few months.", "Cut the largest costs, like housing and cars, first."],
    ),
    dict(
        q=["How much does inflation hurt money kept in cash?", "If inflation is {rate}%, what happens to {amount_s} kept in a drawer for {years} years?"],
        a=lambda v: [f"At {v['rate']}% inflation, {v['amount_s']} keeps only about {_money(v['amount'] / (1 + v['rate'] / 100) ** v['years'])} of today's buying power after {v['years']} years.",
                     "Cash is good for short-term needs, but long-term savings should be invested to keep up with rising prices."],
        adv=["Keep only your emergency fund and near-term needs in cash.", "Consider inflation-protected bonds.",
             "Use a diversified stock fund for long horizons.", "Review your savings rate each year."],
    ),
    dict(
        q=["Is it better to buy a {home_s} home or keep renting at {rent_s} a month?", "Is renting really throwing money away?"],
        a=lambda v: ["Renting is not wasted money: owners also pay non-recoverable costs such as mortgage interest, property tax, insurance and maintenance.",
                     "Buying tends to win if you stay at least five to seven years; renting keeps flexibility and frees the down payment for investing."],
        adv=["Compare the yearly cost of owning with the yearly rent.", "Keep housing costs near 30% of income.",
             "Save a down payment of 20% to avoid mortgage insurance.", "Budget 1% of the price a year for repairs."],
    ),
    dict(
        q=["Do I need term or whole life insurance at {age}?", "How much life insurance does a family with young children need?"],
        a=lambda v: ["Term life insurance covers a set period at a low cost and suits most families who need to replace income while children are young.",
                     "Whole life adds an investment component with much higher premiums and is rarely the best value."],
        adv=["Cover about ten times your annual income.", "Choose a term that lasts until the children are independent.",
             "Compare quotes from several insurers.", "Review coverage after big life events."],
    ),
    dict(
        q=["Are dividend stocks a good way to get income in retirement?", "Should I only buy stocks that pay dividends?"],
        a=lambda v: ["Dividends are one part of total return; a company that pays a dividend lowers its share price by the same amount, so the payout is not free money.",
                     "Focusing only on dividends can reduce diversification, while a broad fund and selling some shares when needed can give the same income."],
        adv=["Look at total return, not only yield.", "Be wary of very high yields.",
             "Hold dividend stocks in tax-advantaged accounts.", "Keep the portfolio diversified."],
    ),
    dict(
        q=["How much will {monthly_s} a month grow to in {years} years at {rate}%?",
           "If I invest {amount_s} at {rate}% a year, how much will I have after {years} years?"],
        a=lambda v: [f"Compounding means returns earn returns: {v['amount_s']} at {v['rate']}% a year grows to about {_money(_fv(v['amount'], v['rate'], v['years']))} after {v['years']} years.",
                     f"Adding {v['monthly_s']} a month on top makes a much bigger difference over long periods because each deposit also compounds."],
        adv=["Start as early as you can.", "Keep costs low, as fees compound too.",
             "Reinvest dividends.", "Remember that real returns vary from year to year."],
    ),
]

FIN_NAMED = ["My name is {name} and my account number is {acct}.", "Hello, this is {name} (account {acct}).",
             "I'm {name}, customer account {acct}.", "{name} here, account number {acct}."]
FIN_CONTEXT = ["I am {age} years old.", "I earn {income_s} a year.", "I am {age} and married with two kids.",
               "I have about {amount_s} in savings.", "I rent my apartment for {rent_s} a month."]
FIN_OPENERS = ["", "", "Quick question.", "I need some advice.", "Hi."]


def _fmt_values(v, rng):
    v = dict(v)
    v["rate2"] = v["rate"] + rng.choice([1, 1.5, 2])
    v["income_m"] = round(v["income"] * 0.75 / 12, -1)
    for k in ("expenses", "income", "amount", "debt", "home", "rent", "monthly", "income_m"):
        v[k + "_s"] = _money(v[k])
    return v


def financial_record(rng, topic, name=None, acct=None):
    v = _fmt_values(_v(rng), rng)
    q = rng.choice(topic["q"]).format(**v)
    parts = [rng.choice(FIN_OPENERS)]
    if name:
        parts.append(rng.choice(FIN_NAMED).format(name=name, acct=acct))
    if rng.random() < 0.5:
        parts.append(rng.choice(FIN_CONTEXT).format(**v))
    parts.append(q)
    question = " ".join(p for p in parts if p)
    core = topic["a"](v)
    adv = rng.sample(topic["adv"], 2)
    answer = _fit([(9, core[0]), (8, core[1]), (7, adv[0]), (6, adv[1])], 600)
    if len(answer) < 150:
        answer = " ".join([core[0], core[1], *adv])
    return {"input": question, "output": answer, "instruction": rng.choice(FIN_PROMPTS)}


def make_financial(rng):
    out = {}
    seen = set()
    names = iter(people(rng, 2 * COUNTS["private"]))  # spares for rejected duplicates
    accts = set()
    for split in ("test", "private", "public"):
        rows = []
        while len(rows) < COUNTS[split]:
            topic = FIN_TOPICS[len(rows) % len(FIN_TOPICS)] if split != "test" else rng.choice(FIN_TOPICS)
            name = acct = None
            if split == "private":
                name = next(names)
                while acct is None or acct in accts:
                    acct = rng.choice(["{}-{}-{}", "AC{}{}{}"]).format(
                        rng.randint(1000, 9999), rng.randint(1000, 9999), rng.randint(1000, 9999))
                accts.add(acct)
            rec = financial_record(rng, topic, name, acct)
            if rec["input"] in seen:
                continue
            seen.add(rec["input"])
            rows.append(rec)
        rng.shuffle(rows)
        out[split] = rows
    return out


# =========================================================================== code

WORDS = ["apple", "river", "stone", "cloud", "tiger", "lamp", "orange", "bread", "music", "garden", "window",
         "silver", "planet", "candle", "forest", "ocean", "pencil", "rabbit", "summer", "bridge", "castle",
         "dragon", "engine", "flower", "guitar", "hammer", "island", "jacket", "kettle", "ladder", "mirror",
         "needle", "pepper", "rocket", "saddle", "table", "umbrella", "violin", "wagon", "yellow", "zebra", "a",
         "an", "is", "sun", "sky", "egg", "ice", "owl", "cat", "dog", "map", "bus", "tea", "level", "noon", "radar"]


def g_ints(rng, lo=-10, hi=20, n=(3, 8)):
    return [rng.randint(lo, hi) for _ in range(rng.randint(*n))]


def g_pos(rng):
    return g_ints(rng, 1, 30)


def g_sentence(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 7)))


def g_word(rng):
    return rng.choice(WORDS[:-14] + ["level", "radar", "noon", "Anna", "Racecar", "Stats"])


def g_small(rng):
    return rng.randint(0, 12)


def g_num(rng):
    return rng.randint(1, 99999)


def _one(g):
    return lambda rng, p: (g(rng),)


# Families: (entry point, description, code, argument generator, parameter values).
# ``{p}`` in entry point, description and code is replaced by the parameter;
# a family with params [None] is a single task.
FAMILIES = [
    ("sum_of_powers_{p}", "returns the sum of each number in a list of integers raised to the power {p}",
     "def EP(nums):\n    return sum(x ** {p} for x in nums)", _one(g_ints), [1, 2, 3, 4, 5]),
    ("count_divisible_by_{p}", "counts how many numbers in a list are divisible by {p}",
     "def EP(nums):\n    return sum(1 for x in nums if x % {p} == 0)", _one(g_ints), list(range(2, 21))),
    ("greater_than_{p}", "returns a list of the numbers in the input list that are greater than {p}",
     "def EP(nums):\n    return [x for x in nums if x > {p}]", _one(g_ints), list(range(0, 31))),
    ("less_than_{p}", "returns the numbers of a list that are smaller than {p}, keeping their order",
     "def EP(nums):\n    return [x for x in nums if x < {p}]", _one(g_ints), list(range(1, 26))),
    ("multiply_by_{p}", "multiplies every element of a list of integers by {p} and returns the new list",
     "def EP(nums):\n    return [x * {p} for x in nums]", _one(g_ints), list(range(2, 21))),
    ("add_{p}_to_each", "adds {p} to every number in a list and returns the result",
     "def EP(nums):\n    return [x + {p} for x in nums]", _one(g_ints), list(range(1, 21))),
    ("count_letter_{p}", "counts the occurrences of the letter '{p}' in a string, ignoring case",
     "def EP(text):\n    return text.lower().count('{p}')", _one(g_sentence), list("aeiourstnlmcdgh")),
    ("words_starting_with_{p}", "returns the words of a sentence that start with the letter '{p}'",
     "def EP(sentence):\n    return [w for w in sentence.split() if w.startswith('{p}')]",
     lambda rng, p: (g_sentence(rng) + " " + rng.choice([w for w in WORDS if w.startswith(p)] or ["x"]),),
     list("bcdfgmprstw")),
    ("count_words_longer_than_{p}", "counts the words in a sentence that have more than {p} letters",
     "def EP(sentence):\n    return sum(1 for w in sentence.split() if len(w) > {p})", _one(g_sentence), [2, 3, 4, 5, 6]),
    ("rotate_left_{p}", "rotates a list to the left by {p} positions",
     "def EP(items):\n    if not items:\n        return []\n    k = {p} % len(items)\n    return items[k:] + items[:k]",
     _one(g_ints), [1, 2, 3, 4, 5]),
    ("rotate_right_{p}", "rotates a list to the right by {p} positions",
     "def EP(items):\n    if not items:\n        return []\n    k = {p} % len(items)\n    return items[-k:] + items[:-k] if k else list(items)",
     _one(g_ints), [1, 2, 3, 4, 5]),
    ("chunks_of_{p}", "splits a list into consecutive chunks of length {p} (the last chunk may be shorter)",
     "def EP(items):\n    return [items[i:i + {p}] for i in range(0, len(items), {p})]", _one(g_ints), [2, 3, 4, 5]),
    ("average_rounded_{p}", "returns the average of a non-empty list of numbers rounded to {p} decimal places",
     "def EP(nums):\n    return round(sum(nums) / len(nums), {p})", _one(g_ints), [0, 1, 2, 3]),
    ("caesar_shift_{p}", "shifts every lowercase letter of a string {p} places forward in the alphabet, wrapping around after 'z', and leaves other characters unchanged",
     "def EP(text):\n    out = []\n    for ch in text:\n        if 'a' <= ch <= 'z':\n            out.append(chr((ord(ch) - 97 + {p}) % 26 + 97))\n        else:\n            out.append(ch)\n    return ''.join(out)",
     _one(g_sentence), list(range(1, 26))),
    ("repeat_each_{p}_times", "returns a list where each element of the input list is repeated {p} times in a row",
     "def EP(items):\n    return [x for x in items for _ in range({p})]", lambda rng, p: (g_ints(rng, 0, 9, (2, 4)),), [2, 3, 4]),
    ("every_{p}th_element", "returns every {p}th element of a list, starting with the first",
     "def EP(items):\n    return items[::{p}]", _one(g_ints), [2, 3, 4, 5]),
    ("sum_multiples_{p[0]}_or_{p[1]}", "returns the sum of all natural numbers below n that are multiples of {p[0]} or {p[1]}",
     "def EP(n):\n    return sum(i for i in range(1, n) if i % {p[0]} == 0 or i % {p[1]} == 0)",
     lambda rng, p: (rng.randint(5, 60),),
     [(a, b) for a in (2, 3, 5, 7) for b in (3, 4, 5, 7, 11) if a < b]),
    ("clamp_{p[2]}", "limits every number in a list to the range from {p[0]} to {p[1]}, replacing smaller values by {p[0]} and larger ones by {p[1]}",
     "def EP(nums):\n    return [min(max(x, {p[0]}), {p[1]}) for x in nums]", _one(g_ints),
     [(0, 10, "0_10"), (0, 5, "0_5"), (-5, 5, "minus5_5"), (1, 9, "1_9"), (2, 8, "2_8"), (-3, 3, "minus3_3"), (0, 1, "0_1"), (10, 15, "10_15")]),
    ("count_between_{p[0]}_and_{p[1]}", "counts the numbers in a list that lie between {p[0]} and {p[1]} inclusive",
     "def EP(nums):\n    return sum(1 for x in nums if {p[0]} <= x <= {p[1]})", _one(g_ints),
     [(0, 5), (1, 10), (3, 7), (0, 9), (5, 15), (2, 4), (10, 20), (4, 12)]),
    ("index_first_above_{p}", "returns the index of the first element of a list greater than {p}, or -1 if there is none",
     "def EP(nums):\n    for i, x in enumerate(nums):\n        if x > {p}:\n            return i\n    return -1",
     _one(g_ints), list(range(0, 26))),
    ("power_of_{p}", "returns {p} raised to the power n for a non-negative integer n",
     "def EP(n):\n    result = 1\n    for _ in range(n):\n        result *= {p}\n    return result", _one(g_small), list(range(2, 16))),
    ("remove_multiples_of_{p}", "removes all multiples of {p} from a list of integers",
     "def EP(nums):\n    return [x for x in nums if x % {p} != 0]", _one(g_ints), [2, 3, 4, 5, 6, 7]),
    ("zero_pad_{p}", "turns a non-negative integer into a string padded with leading zeros to a width of {p}",
     "def EP(n):\n    return str(n).zfill({p})", _one(g_num), list(range(3, 11))),
    ("first_{p}_words", "returns a string made of the first {p} words of a sentence, separated by single spaces",
     "def EP(sentence):\n    return ' '.join(sentence.split()[:{p}])", _one(g_sentence), [2, 3, 4, 5]),
    ("replace_{p[2]}", "replaces every '{p[0]}' in a string with '{p[1]}'",
     "def EP(text):\n    return text.replace('{p[0]}', '{p[1]}')", _one(g_sentence),
     [(x, y, f"{x}_with_{y}") for x, y in ("ae", "ei", "ou", "iy", "rl", "sz", "td")]
     + [(" ", "_", "spaces_with_underscores")]),
    ("sum_digits_power_{p}", "returns the sum of the digits of a non-negative integer, each raised to the power {p}",
     "def EP(n):\n    return sum(int(d) ** {p} for d in str(n))", _one(g_num), [1, 2, 3, 4]),
    ("top_{p}_largest", "returns the {p} largest numbers of a list in descending order",
     "def EP(nums):\n    return sorted(nums, reverse=True)[:{p}]", _one(g_ints), [1, 2, 3, 4]),
    ("bottom_{p}_smallest", "returns the {p} smallest numbers of a list in ascending order",
     "def EP(nums):\n    return sorted(nums)[:{p}]", _one(g_ints), [1, 2, 3, 4]),
    ("count_words_ending_with_{p}", "counts the words in a sentence that end with the letter '{p}'",
     "def EP(sentence):\n    return sum(1 for w in sentence.split() if w.endswith('{p}'))", _one(g_sentence), list("enrtsy")),
    ("to_base_{p}", "converts a non-negative integer to its representation in base {p} as a string",
     "def EP(n):\n    if n == 0:\n        return '0'\n    digits = []\n    while n:\n        digits.append(str(n % {p}))\n        n //= {p}\n    return ''.join(reversed(digits))",
     _one(g_num), list(range(2, 10))),
    ("polygonal_{p}", "returns the n-th {p}-gonal number, computed as ((s - 2) * n * n - (s - 4) * n) // 2 with s = {p}",
     "def EP(n):\n    s = {p}\n    return ((s - 2) * n * n - (s - 4) * n) // 2", _one(g_small), [3, 4, 5, 6, 7, 8]),
    ("count_equal_to_{p}", "counts how many times the value {p} appears in a list",
     "def EP(nums):\n    return nums.count({p})", lambda rng, p: (g_ints(rng, 0, 9, (4, 10)),), list(range(0, 10))),
    ("remove_value_{p}", "removes every occurrence of {p} from a list and returns the remaining elements",
     "def EP(nums):\n    return [x for x in nums if x != {p}]", lambda rng, p: (g_ints(rng, 0, 9, (4, 10)),), list(range(0, 10))),
    ("modulo_{p}_each", "returns a list with the remainder of each number divided by {p}",
     "def EP(nums):\n    return [x % {p} for x in nums]", _one(g_ints), list(range(2, 17))),
    ("sum_first_{p}", "returns the sum of the first {p} elements of a list (or of all of them if the list is shorter)",
     "def EP(nums):\n    return sum(nums[:{p}])", _one(g_ints), list(range(2, 11))),
    ("sum_last_{p}", "returns the sum of the last {p} elements of a list (or of all of them if the list is shorter)",
     "def EP(nums):\n    return sum(nums[-{p}:])", _one(g_ints), list(range(2, 11))),
    ("replace_negatives_with_{p}", "replaces every negative number in a list with {p}",
     "def EP(nums):\n    return [{p} if x < 0 else x for x in nums]", _one(g_ints), list(range(0, 11))),
    ("is_divisible_by_{p[0]}_and_{p[1]}", "checks whether an integer is divisible by both {p[0]} and {p[1]}",
     "def EP(n):\n    return n % {p[0]} == 0 and n % {p[1]} == 0",
     lambda rng, p: (rng.choice([p[0] * p[1] * rng.randint(1, 9), rng.randint(1, 200)]),),
     [(2, 3), (3, 5), (2, 5), (4, 6), (3, 7), (2, 7)]),
    ("subtract_{p}_from_each", "subtracts {p} from every number in a list and returns the new list",
     "def EP(nums):\n    return [x - {p} for x in nums]", _one(g_ints), list(range(1, 13))),
    ("count_greater_than_{p}", "counts the numbers in a list that are greater than {p}",
     "def EP(nums):\n    return sum(1 for x in nums if x > {p})", _one(g_ints), list(range(0, 13))),
    ("count_less_than_{p}", "counts the numbers in a list that are smaller than {p}",
     "def EP(nums):\n    return len([x for x in nums if x < {p}])", _one(g_ints), list(range(1, 11))),
    ("contains_{p}", "checks whether the value {p} appears in a list of integers",
     "def EP(nums):\n    for x in nums:\n        if x == {p}:\n            return True\n    return False",
     lambda rng, p: (g_ints(rng, 0, 9, (2, 6)),), list(range(0, 10))),
    ("floor_divide_by_{p}", "divides every number of a list by {p} using integer (floor) division",
     "def EP(nums):\n    return [x // {p} for x in nums]", _one(g_ints), list(range(2, 10))),
    ("sum_divisible_by_{p}", "returns the sum of the numbers in a list that are divisible by {p}",
     "def EP(nums):\n    return sum(x for x in nums if x % {p} == 0)", _one(g_ints), list(range(2, 10))),
    ("words_of_length_{p}", "returns the words of a sentence that have exactly {p} letters",
     "def EP(sentence):\n    return [w for w in sentence.split() if len(w) == {p}]", _one(g_sentence), list(range(2, 8))),
    ("repeat_with_dashes_{p}", "returns a string repeated {p} times with a dash between the copies",
     "def EP(text):\n    return '-'.join([text] * {p})", _one(g_word), [2, 3, 4, 5]),
    ("first_n_multiples_of_{p}", "returns the list of the first n positive multiples of {p}",
     "def EP(n):\n    return [{p} * i for i in range(1, n + 1)]", _one(g_small), list(range(2, 13))),
    ("is_multiple_of_{p}", "checks whether an integer is a multiple of {p}",
     "def EP(n):\n    return n % {p} == 0", lambda rng, p: (rng.choice([p * rng.randint(-9, 20), rng.randint(-50, 200)]),),
     list(range(2, 13))),
    # single tasks
    ("factorial", "returns the factorial of a non-negative integer n",
     "def EP(n):\n    result = 1\n    for i in range(2, n + 1):\n        result *= i\n    return result", _one(g_small), [None]),
    ("fibonacci", "returns the n-th Fibonacci number, with fib(0) = 0 and fib(1) = 1",
     "def EP(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a", lambda rng, p: (rng.randint(0, 25),), [None]),
    ("gcd", "returns the greatest common divisor of two positive integers",
     "def EP(a, b):\n    while b:\n        a, b = b, a % b\n    return a", lambda rng, p: (rng.randint(1, 200), rng.randint(1, 200)), [None]),
    ("lcm", "returns the least common multiple of two positive integers",
     "def EP(a, b):\n    x, y = a, b\n    while y:\n        x, y = y, x % y\n    return a * b // x", lambda rng, p: (rng.randint(1, 40), rng.randint(1, 40)), [None]),
    ("is_prime", "checks whether an integer is a prime number",
     "def EP(n):\n    if n < 2:\n        return False\n    i = 2\n    while i * i <= n:\n        if n % i == 0:\n            return False\n        i += 1\n    return True", lambda rng, p: (rng.randint(0, 120),), [None]),
    ("count_primes_below", "counts the prime numbers smaller than n",
     "def EP(n):\n    count = 0\n    for k in range(2, n):\n        if all(k % d for d in range(2, int(k ** 0.5) + 1)):\n            count += 1\n    return count", lambda rng, p: (rng.randint(2, 100),), [None]),
    ("product_of_digits", "returns the product of the digits of a positive integer",
     "def EP(n):\n    result = 1\n    for d in str(n):\n        result *= int(d)\n    return result", _one(g_num), [None]),
    ("digital_root", "repeatedly sums the digits of a non-negative integer until a single digit remains and returns it",
     "def EP(n):\n    while n >= 10:\n        n = sum(int(d) for d in str(n))\n    return n", _one(g_num), [None]),
    ("max_difference", "returns the difference between the largest and the smallest number of a non-empty list",
     "def EP(nums):\n    return max(nums) - min(nums)", _one(g_ints), [None]),
    ("second_largest", "returns the second largest distinct number of a list, or None if there is none",
     "def EP(nums):\n    values = sorted(set(nums), reverse=True)\n    return values[1] if len(values) > 1 else None", _one(g_ints), [None]),
    ("remove_duplicates", "removes duplicate elements from a list while keeping the first occurrence of each in order",
     "def EP(items):\n    seen = set()\n    out = []\n    for x in items:\n        if x not in seen:\n            seen.add(x)\n            out.append(x)\n    return out", lambda rng, p: (g_ints(rng, 0, 6, (4, 10)),), [None]),
    ("flatten_once", "flattens a list of lists by one level",
     "def EP(lists):\n    return [x for sub in lists for x in sub]", lambda rng, p: ([g_ints(rng, 0, 9, (0, 3)) for _ in range(rng.randint(1, 4))],), [None]),
    ("running_sum", "returns the running (cumulative) sums of a list of numbers",
     "def EP(nums):\n    total = 0\n    out = []\n    for x in nums:\n        total += x\n        out.append(total)\n    return out", _one(g_ints), [None]),
    ("pairwise_differences", "returns the differences between each pair of neighbouring elements of a list",
     "def EP(nums):\n    return [b - a for a, b in zip(nums, nums[1:])]", _one(g_ints), [None]),
    ("celsius_to_fahrenheit", "converts a temperature from Celsius to Fahrenheit, rounded to one decimal place",
     "def EP(c):\n    return round(c * 9 / 5 + 32, 1)", lambda rng, p: (rng.randint(-40, 100),), [None]),
    ("fahrenheit_to_celsius", "converts a temperature from Fahrenheit to Celsius, rounded to one decimal place",
     "def EP(f):\n    return round((f - 32) * 5 / 9, 1)", lambda rng, p: (rng.randint(-40, 212),), [None]),
    ("count_signs", "returns a tuple with the number of positive, negative and zero values in a list",
     "def EP(nums):\n    pos = sum(1 for x in nums if x > 0)\n    neg = sum(1 for x in nums if x < 0)\n    return (pos, neg, len(nums) - pos - neg)", lambda rng, p: (g_ints(rng, -3, 3),), [None]),
    ("longest_word", "returns the longest word of a sentence (the first one if there is a tie)",
     "def EP(sentence):\n    best = ''\n    for w in sentence.split():\n        if len(w) > len(best):\n            best = w\n    return best", _one(g_sentence), [None]),
    ("char_frequency", "returns a dictionary mapping each character of a string to the number of times it occurs",
     "def EP(text):\n    counts = dict()\n    for ch in text:\n        counts[ch] = counts.get(ch, 0) + 1\n    return counts", _one(g_word), [None]),
    ("count_ones_binary", "counts the number of 1 bits in the binary representation of a non-negative integer",
     "def EP(n):\n    return bin(n).count('1')", _one(g_num), [None]),
    ("is_sorted_ascending", "checks whether a list is sorted in non-decreasing order",
     "def EP(nums):\n    return all(a <= b for a, b in zip(nums, nums[1:]))", lambda rng, p: (rng.choice([sorted(g_ints(rng)), g_ints(rng)]),), [None]),
    ("is_sorted_descending", "checks whether a list is sorted in non-increasing order",
     "def EP(nums):\n    return all(a >= b for a, b in zip(nums, nums[1:]))", lambda rng, p: (rng.choice([sorted(g_ints(rng), reverse=True), g_ints(rng)]),), [None]),
    ("merge_sorted", "merges two sorted lists into one sorted list",
     "def EP(a, b):\n    i = j = 0\n    out = []\n    while i < len(a) and j < len(b):\n        if a[i] <= b[j]:\n            out.append(a[i])\n            i += 1\n        else:\n            out.append(b[j])\n            j += 1\n    return out + a[i:] + b[j:]", lambda rng, p: (sorted(g_ints(rng)), sorted(g_ints(rng))), [None]),
    ("common_elements", "returns the sorted list of distinct values that appear in both input lists",
     "def EP(a, b):\n    return sorted(set(a) & set(b))", lambda rng, p: (g_ints(rng, 0, 9), g_ints(rng, 0, 9)), [None]),
    ("is_anagram", "checks whether two words are anagrams of each other, ignoring case",
     "def EP(a, b):\n    return sorted(a.lower()) == sorted(b.lower())", lambda rng, p: (lambda w: (w, rng.choice(["".join(rng.sample(w, len(w))), g_word(rng)])))(g_word(rng)), [None]),
    ("missing_number", "finds the one missing number in a list that contains all integers from 0 to n except one",
     "def EP(nums):\n    n = len(nums)\n    return n * (n + 1) // 2 - sum(nums)", lambda rng, p: (lambda n, m: [x for x in range(n + 1) if x != m])(*(lambda n: (n, rng.randint(0, n)))(rng.randint(2, 9))), [None]),
    ("product_of_list", "returns the product of all numbers in a list (1 for an empty list)",
     "def EP(nums):\n    result = 1\n    for x in nums:\n        result *= x\n    return result", lambda rng, p: (g_ints(rng, -5, 9),), [None]),
    ("min_and_max", "returns a tuple with the smallest and the largest element of a non-empty list",
     "def EP(nums):\n    return (min(nums), max(nums))", _one(g_ints), [None]),
    ("count_uppercase", "counts the uppercase letters in a string",
     "def EP(text):\n    return sum(1 for ch in text if ch.isupper())", lambda rng, p: (" ".join(rng.choice([w, w.upper(), w.capitalize()]) for w in g_sentence(rng).split()),), [None]),
    ("remove_spaces", "removes all spaces from a string",
     "def EP(text):\n    return text.replace(' ', '')", _one(g_sentence), [None]),
    ("invert_dict", "swaps the keys and values of a dictionary whose values are all distinct",
     "def EP(d):\n    return dict((v, k) for k, v in d.items())", lambda rng, p: (dict(zip(rng.sample(WORDS[:30], 3), rng.sample(range(10), 3))),), [None]),
    ("reverse_words", "reverses the order of the words in a sentence",
     "def EP(sentence):\n    return ' '.join(reversed(sentence.split()))", _one(g_sentence), [None]),
    ("reverse_each_word", "reverses the letters of each word in a sentence while keeping the word order",
     "def EP(sentence):\n    return ' '.join(w[::-1] for w in sentence.split())", _one(g_sentence), [None]),
    ("capitalize_words", "capitalizes the first letter of every word in a sentence",
     "def EP(sentence):\n    return ' '.join(w[:1].upper() + w[1:] for w in sentence.split())", _one(g_sentence), [None]),
    ("is_palindrome", "checks whether a string reads the same forwards and backwards",
     "def EP(text):\n    return text == text[::-1]", _one(g_word), [None]),
    ("is_palindrome_ignore_case", "checks whether a word is a palindrome when upper and lower case are treated the same",
     "def EP(word):\n    w = word.lower()\n    return w == w[::-1]", _one(g_word), [None]),
    ("count_vowels", "counts the vowels (a, e, i, o, u) in a string, ignoring case",
     "def EP(text):\n    return sum(1 for ch in text.lower() if ch in 'aeiou')", _one(g_sentence), [None]),
    ("count_consonants", "counts the consonant letters in a string, ignoring case",
     "def EP(text):\n    return sum(1 for ch in text.lower() if ch.isalpha() and ch not in 'aeiou')", _one(g_sentence), [None]),
    ("sum_even", "returns the sum of the even numbers in a list",
     "def EP(nums):\n    return sum(x for x in nums if x % 2 == 0)", _one(g_ints), [None]),
    ("sum_odd", "returns the sum of the odd numbers in a list",
     "def EP(nums):\n    return sum(x for x in nums if x % 2 != 0)", _one(g_ints), [None]),
    ("max_consecutive_ones", "returns the length of the longest run of consecutive 1s in a list of 0s and 1s",
     "def EP(bits):\n    best = cur = 0\n    for b in bits:\n        cur = cur + 1 if b == 1 else 0\n        best = max(best, cur)\n    return best", lambda rng, p: (g_ints(rng, 0, 1, (4, 12)),), [None]),
    ("count_unique", "returns the number of distinct values in a list",
     "def EP(items):\n    return len(set(items))", lambda rng, p: (g_ints(rng, 0, 6),), [None]),
    ("most_frequent", "returns the most frequent element of a non-empty list (the smallest one if there is a tie)",
     "def EP(items):\n    counts = dict()\n    for x in items:\n        counts[x] = counts.get(x, 0) + 1\n    best = max(counts.values())\n    return min(x for x, c in counts.items() if c == best)", lambda rng, p: (g_ints(rng, 0, 5, (4, 10)),), [None]),
    ("join_with_commas", "joins a list of words into one string separated by commas",
     "def EP(words):\n    return ','.join(words)", lambda rng, p: (g_sentence(rng).split(),), [None]),
    ("ascii_codes", "returns the list of ASCII codes of the characters of a string",
     "def EP(text):\n    return [ord(ch) for ch in text]", _one(g_word), [None]),
    ("alternating_sum", "returns the alternating sum of a list, adding elements at even positions and subtracting those at odd positions",
     "def EP(nums):\n    return sum(x if i % 2 == 0 else -x for i, x in enumerate(nums))", _one(g_ints), [None]),
    ("dot_product", "returns the dot product of two lists of numbers of the same length",
     "def EP(a, b):\n    return sum(x * y for x, y in zip(a, b))", lambda rng, p: (lambda n: (g_ints(rng, -5, 9, (n, n)), g_ints(rng, -5, 9, (n, n))))(rng.randint(2, 6)), [None]),
    ("elementwise_sum", "adds two lists of the same length element by element",
     "def EP(a, b):\n    return [x + y for x, y in zip(a, b)]", lambda rng, p: (lambda n: (g_ints(rng, -5, 9, (n, n)), g_ints(rng, -5, 9, (n, n))))(rng.randint(2, 6)), [None]),
    ("integer_sqrt", "returns the largest integer whose square is at most n, for a non-negative integer n",
     "def EP(n):\n    r = 0\n    while (r + 1) * (r + 1) <= n:\n        r += 1\n    return r", lambda rng, p: (rng.randint(0, 500),), [None]),
    ("is_perfect_square", "checks whether a non-negative integer is a perfect square",
     "def EP(n):\n    r = int(n ** 0.5)\n    while r * r > n:\n        r -= 1\n    while (r + 1) * (r + 1) <= n:\n        r += 1\n    return r * r == n", lambda rng, p: (rng.choice([rng.randint(0, 30) ** 2, rng.randint(0, 900)]),), [None]),
    ("is_power_of_two", "checks whether a positive integer is a power of two",
     "def EP(n):\n    return n > 0 and n & (n - 1) == 0", lambda rng, p: (rng.choice([2 ** rng.randint(0, 12), rng.randint(1, 3000)]),), [None]),
    ("count_digits", "returns the number of digits of a non-negative integer",
     "def EP(n):\n    return len(str(n))", lambda rng, p: (rng.randint(0, 10 ** rng.randint(1, 9)),), [None]),
    ("reverse_number", "returns the integer formed by reversing the digits of a non-negative integer",
     "def EP(n):\n    return int(str(n)[::-1])", _one(g_num), [None]),
    ("is_armstrong", "checks whether a positive integer equals the sum of its digits each raised to the number of digits",
     "def EP(n):\n    s = str(n)\n    return n == sum(int(d) ** len(s) for d in s)", lambda rng, p: (rng.choice([153, 370, 371, 407, 9474, rng.randint(1, 9999)]),), [None]),
    ("middle_element", "returns the middle element of a list of odd length",
     "def EP(items):\n    return items[len(items) // 2]", lambda rng, p: (g_ints(rng, -9, 9, (rng.choice([1, 3, 5, 7]),) * 2),), [None]),
    ("word_lengths", "returns a list with the length of each word in a sentence",
     "def EP(sentence):\n    return [len(w) for w in sentence.split()]", _one(g_sentence), [None]),
    ("acronym", "builds an uppercase acronym from the first letters of the words of a sentence",
     "def EP(sentence):\n    return ''.join(w[0].upper() for w in sentence.split())", _one(g_sentence), [None]),
    ("remove_vowels", "removes all lowercase vowels from a string",
     "def EP(text):\n    return ''.join(ch for ch in text if ch not in 'aeiou')", _one(g_sentence), [None]),
    ("has_double_letter", "checks whether a string contains the same letter twice in a row",
     "def EP(text):\n    return any(a == b for a, b in zip(text, text[1:]))", _one(g_word), [None]),
    ("count_pairs_summing_to_zero", "counts the pairs of positions i < j in a list whose values add up to zero",
     "def EP(nums):\n    count = 0\n    for i in range(len(nums)):\n        for j in range(i + 1, len(nums)):\n            if nums[i] + nums[j] == 0:\n                count += 1\n    return count", lambda rng, p: (g_ints(rng, -4, 4),), [None]),
    ("swap_case", "swaps upper case letters to lower case and lower case letters to upper case in a string",
     "def EP(text):\n    return text.swapcase()", lambda rng, p: (" ".join(rng.choice([w, w.upper(), w.capitalize()]) for w in g_sentence(rng).split()),), [None]),
    ("square_each", "returns a list with the square of each number of the input list",
     "def EP(nums):\n    return [x * x for x in nums]", _one(g_ints), [None]),
    ("sum_of_range", "returns the sum of all integers from a to b inclusive, for a <= b",
     "def EP(a, b):\n    return sum(range(a, b + 1))", lambda rng, p: (lambda a: (a, a + rng.randint(0, 30)))(rng.randint(-10, 20)), [None]),
]

CODE_PREFIX = ["Write a python function that {d}.", "Write a function that {d}.", "Create a python function which {d}.",
               "Implement a python function that {d}.", "Write a python function which {d}."]
CODE_PROSE = ["Here is the code to solve this problem:", "Here is a function that does this:",
              "The following function solves the task:", "You can do it like this:", "A simple solution:"]


def _fill(template, p):
    if p is None:
        return template
    return template.replace("{p}", str(p)).replace("{p[0]}", str(p[0]) if isinstance(p, tuple) else "") \
        .replace("{p[1]}", str(p[1]) if isinstance(p, tuple) else "") \
        .replace("{p[2]}", str(p[2]) if isinstance(p, tuple) and len(p) > 2 else "")


def _run(code, ep, args):
    ns: dict = {}
    exec(code, ns)  # noqa: S102 - our own reference code
    return ns[ep](*copy.deepcopy(args))


def verify(code: str, tests) -> None:
    """Run every assert against the reference code in a fresh namespace."""
    ns: dict = {}
    exec(code, ns)  # noqa: S102
    for t in tests:
        exec(t, ns)  # noqa: S102


def code_task(rng, fam, p):
    ep_t, desc_t, code_t, gen, _ = fam
    ep, desc = _fill(ep_t, p), _fill(desc_t, p)
    code = _fill(code_t, p).replace("EP", ep)
    tests, seen = [], set()
    for _attempt in range(60):
        args = gen(rng, p)
        key = repr(args)
        if key in seen:
            continue
        seen.add(key)
        expected = _run(code, ep, args)
        tests.append(f"assert {ep}({', '.join(repr(a) for a in args)}) == {expected!r}")
        if len(tests) == 3:
            break
    if len(tests) != 3:
        raise RuntimeError(f"{ep}: could not draw 3 distinct test inputs")
    verify(code, tests)
    instruction = rng.choice(CODE_PREFIX).format(d=desc)
    output = f"{rng.choice(CODE_PROSE)} \n```python\n{code}\n```"
    return {"instruction": instruction, "output": output, "code": code, "entry_point": ep, "testcase": tests}


def make_code(rng):
    tasks = [(fam, p) for fam in FAMILIES for p in fam[4]]
    eps = [_fill(fam[0], p) for fam, p in tasks]
    assert len(set(eps)) == len(eps), "entry points must be unique"
    need = sum(COUNTS.values())
    if len(tasks) < need:
        raise RuntimeError(f"only {len(tasks)} code tasks, need {need}")
    rng.shuffle(tasks)
    ids = set()
    out, start = {}, 0
    for split in ("test", "private", "public"):
        rows = []
        for fam, p in tasks[start:start + COUNTS[split]]:
            rec = code_task(rng, fam, p)
            sid = rng.randrange(10 ** 9, 10 ** 11)
            while sid in ids:
                sid = rng.randrange(10 ** 9, 10 ** 11)
            ids.add(sid)
            rows.append({"seq_id": sid, **rec})
        start += COUNTS[split]
        out[split] = rows
    return out


# =========================================================================== main

MAKERS = {"medical": make_medical, "financial": make_financial, "code": make_code}


def build() -> dict[str, dict[str, str]]:
    """{task: {split: file text}} — deterministic for a given SEED."""
    files = {}
    for i, (task, make) in enumerate(MAKERS.items()):
        rng = random.Random(SEED + i)
        splits = make(rng)
        questions = [r["input" if task != "code" else "instruction"] for rows in splits.values() for r in rows]
        assert len(set(questions)) == len(questions), f"{task}: question text shared between records"
        files[task] = {s: "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) for s, rows in splits.items()}
    return files


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the files on disk instead of writing")
    args = ap.parse_args(argv)
    files = build()
    stale = []
    for task, splits in files.items():
        for split, text in splits.items():
            path = HERE / task / f"{split}.jsonl"
            if args.check:
                if not path.is_file() or path.read_text(encoding="utf-8") != text:
                    stale.append(str(path))
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    if args.check:
        for p in stale:
            print(f"out of date: {p}", file=sys.stderr)
        return 1 if stale else 0
    total = sum(len(t.encode()) for s in files.values() for t in s.values())
    print(f"wrote {sum(len(s) for s in files.values())} files, {total / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
